-- Showing results in the picker a user already has: Telescope, fzf-lua or snacks.nvim when
-- installed, else vim.ui.select. Each takes quickfix-style items {filename, lnum, col, text}.
local M = {}

-- "path:line  text", for lists.
function M.format(item)
  return string.format("%s:%d  %s", vim.fn.fnamemodify(item.filename, ":."), item.lnum, item.text)
end

local function jump(item)
  vim.cmd("edit " .. vim.fn.fnameescape(item.filename))
  vim.api.nvim_win_set_cursor(0, { item.lnum, item.col - 1 })
end

function M.telescope(title, items)
  local ok, pickers = pcall(require, "telescope.pickers")
  if not ok then
    return false
  end
  local finders = require("telescope.finders")
  local conf = require("telescope.config").values
  pickers
    .new({}, {
      prompt_title = title,
      finder = finders.new_table({
        results = items,
        -- filename/lnum/col let Telescope's default action and quickfix previewer work.
        entry_maker = function(item)
          return {
            value = item,
            display = M.format(item),
            ordinal = item.text .. " " .. item.filename,
            filename = item.filename,
            lnum = item.lnum,
            col = item.col,
          }
        end,
      }),
      sorter = conf.generic_sorter({}),
      previewer = conf.qflist_previewer({}),
    })
    :find()
  return true
end

function M.fzf_lua(title, items)
  local ok, fzf = pcall(require, "fzf-lua")
  if not ok then
    return false
  end
  -- "file:line:col: text" is what fzf-lua's file actions and previewer parse.
  local lines = {}
  for _, item in ipairs(items) do
    table.insert(lines, string.format("%s:%d:%d: %s", vim.fn.fnamemodify(item.filename, ":."), item.lnum, item.col, item.text))
  end
  fzf.fzf_exec(lines, {
    prompt = title .. "> ",
    previewer = "builtin",
    actions = { ["default"] = fzf.actions.file_edit },
  })
  return true
end

function M.snacks(title, items)
  local ok, snacks = pcall(require, "snacks")
  if not ok or not snacks.picker then
    return false
  end
  local entries = {}
  for i, item in ipairs(items) do
    -- snacks positions are {line (1-based), column (0-based)}.
    table.insert(entries, { idx = i, text = item.text, file = item.filename, pos = { item.lnum, item.col - 1 } })
  end
  snacks.picker.pick({ title = title, items = entries, format = "file" })
  return true
end

function M.select(title, items)
  vim.ui.select(items, { prompt = title, format_item = M.format }, function(item)
    if item then
      jump(item)
    end
  end)
  return true
end

local order = { "telescope", "fzf_lua", "snacks", "select" }

-- Shows `items` in `choice` ("auto": the first installed of Telescope, fzf-lua, snacks, then
-- vim.ui.select; or one of those names, falling back to vim.ui.select when it is missing).
function M.show(choice, title, items)
  if choice ~= "auto" then
    local name = choice:gsub("-", "_")
    if M[name] and M[name](title, items) then
      return
    end
    return M.select(title, items)
  end
  for _, name in ipairs(order) do
    if M[name](title, items) then
      return
    end
  end
end

return M
