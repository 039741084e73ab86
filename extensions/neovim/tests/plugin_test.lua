-- The plugin in a real headless Neovim (0.7 or 0.11): setup, :Scry search / similar / status,
-- the quickfix list, the picker, :checkhealth scry, the statusline.
-- Run: SCRY_BIN=… SCRY_WS=… nvim --headless --clean -u NONE \
--        --cmd 'set rtp+=extensions/neovim' -c 'runtime plugin/scry.lua' -c 'luafile plugin_test.lua'
local bin = assert(os.getenv("SCRY_BIN"), "SCRY_BIN")
local ws = assert(os.getenv("SCRY_WS"), "SCRY_WS")

local function log(msg)
  io.stdout:write(msg .. "\n")
end

local function fail(msg)
  io.stderr:write("FAIL: " .. msg .. "\n")
  vim.cmd("cquit 1")
end

local function wait(what, ms, cond)
  if not vim.wait(ms, cond, 50) then
    fail("timed out waiting for " .. what)
  end
end

-- The picker: record what it was offered, pick the first entry.
local offered
vim.ui.select = function(items, opts, on_choice)
  offered = { items = items, prompt = opts.prompt, shown = opts.format_item(items[1]) }
  on_choice(items[1], 1)
end
local messages = {}
vim.notify = function(msg)
  table.insert(messages, msg)
end

local function qf()
  return vim.fn.getqflist({ title = 1, items = 1 })
end

local function run()
  local scry = require("scry")
  scry.setup({ cmd = { bin, "lsp" } })
  vim.cmd("edit " .. ws .. "/net/retry.py")
  wait("the server to attach", 20000, function()
    return scry.client() ~= nil
  end)
  wait("the index", 30000, function()
    return scry.statusline() == "scry: ready"
  end)
  log("attached and indexed")

  -- A background sync's state, as :Scry status and the statusline show it.
  local lines = scry.status_lines({
    workspaces = {},
    sync = { { root = "file:///w", state = "offline", generation = 2, message = "cannot reach" } },
  })
  if not (lines[1] or ""):match("sync offline, generation 2") then
    fail("sync status line: " .. vim.inspect(lines))
  end
  scry.state.sync["file:///w"] = { state = "offline" }
  if scry.statusline() ~= "scry: ready, sync offline" then
    fail("statusline with a sync offline: " .. scry.statusline())
  end
  scry.state.sync["file:///w"] = nil

  vim.cmd("Scry search retry a failed upload")
  wait("search results", 10000, function()
    return qf().title == "Scry: retry a failed upload"
  end)
  local items = qf().items
  if vim.fn.bufname(items[1].bufnr) ~= ws .. "/net/retry.py" or items[1].lnum ~= 4 then
    fail("search quickfix: " .. vim.inspect(items[1]) .. " " .. vim.fn.bufname(items[1].bufnr))
  end
  if not offered.shown:match("net/retry.py:4") then
    fail("picker entry: " .. offered.shown)
  end
  if vim.api.nvim_win_get_cursor(0)[1] ~= 4 then
    fail("the chosen result was not opened at its line")
  end
  log("search ok")

  -- A file's other matches follow its entry in the quickfix list.
  local place = { start = { line = 20, character = 0 }, ["end"] = { line = 31, character = 0 } }
  local listed = scry.to_items({ {
    uri = vim.uri_from_fname(ws .. "/net/retry.py"),
    range = { start = { line = 3, character = 0 }, ["end"] = { line = 9, character = 0 } },
    symbol = "retry_upload", snippet = "def retry_upload():",
    more = { { range = place, score = 0.5, symbol = "backoff" } },
  } })
  if #listed ~= 2 or listed[2].lnum ~= 21 or listed[2].text ~= "  also backoff" then
    fail("quickfix items with more: " .. vim.inspect(listed))
  end
  -- An org-wide result in a repository not checked out here names it instead of a file.
  local remote = scry.to_items({ {
    uri = vim.NIL, repo = "geo", path = "geo/area.py", symbol = "circle_area", snippet = "",
    range = { start = { line = 0, character = 0 }, ["end"] = { line = 1, character = 0 } },
  } })
  if remote[1].filename ~= nil or remote[1].text ~= "geo/geo/area.py:1  circle_area  " then
    fail("org-wide quickfix item: " .. vim.inspect(remote))
  end

  -- Installed pickers take the results: stand-ins record how each is called.
  local seen = {}
  package.loaded["telescope.pickers"] = {
    new = function(_, spec)
      seen.telescope = spec
      return { find = function() seen.telescope_found = true end }
    end,
  }
  package.loaded["telescope.finders"] = { new_table = function(t) return t end }
  package.loaded["telescope.config"] = {
    values = {
      generic_sorter = function() return "sorter" end,
      qflist_previewer = function() return "qflist previewer" end,
    },
  }
  vim.cmd("Scry search retry a failed upload")
  wait("the Telescope picker", 10000, function() return seen.telescope_found end)
  local entry = seen.telescope.finder.entry_maker(seen.telescope.finder.results[1])
  if not entry.filename:match("net/retry.py$") or entry.lnum ~= 4 or seen.telescope.previewer ~= "qflist previewer" then
    fail("telescope entry: " .. vim.inspect(entry))
  end
  for _, name in ipairs({ "telescope.pickers", "telescope.finders", "telescope.config" }) do
    package.loaded[name] = nil
  end
  package.loaded["fzf-lua"] = {
    fzf_exec = function(lines, opts) seen.fzf = { lines = lines, opts = opts } end,
    actions = { file_edit = "file_edit" },
  }
  vim.cmd("Scry search retry a failed upload")
  wait("the fzf-lua picker", 10000, function() return seen.fzf end)
  if not seen.fzf.lines[1]:match("net/retry.py:4:1: retry_upload") or seen.fzf.opts.actions.default ~= "file_edit" then
    fail("fzf-lua lines: " .. vim.inspect(seen.fzf))
  end
  package.loaded["fzf-lua"] = nil
  package.loaded["snacks"] = { picker = { pick = function(opts) seen.snacks = opts end } }
  vim.cmd("Scry search retry a failed upload")
  wait("the snacks picker", 10000, function() return seen.snacks end)
  local first = seen.snacks.items[1]
  if not first.file:match("net/retry.py$") or first.pos[1] ~= 4 or first.pos[2] ~= 0 then
    fail("snacks items: " .. vim.inspect(seen.snacks.items))
  end
  package.loaded["snacks"] = nil
  log("pickers ok")

  vim.fn.setqflist({}, "r", { title = "cleared", items = {} })
  vim.cmd("4,11Scry similar")
  wait("similar results", 10000, function()
    return qf().title == "Scry: similar code"
  end)
  if not vim.fn.bufname(qf().items[1].bufnr):match("net/retry2.py$") then
    fail("similar (range): " .. vim.inspect(qf().items))
  end
  log("similar (range) ok")

  vim.cmd("edit " .. ws .. "/net/retry.py")
  vim.api.nvim_win_set_cursor(0, { 7, 0 })
  vim.fn.setqflist({}, "r", { title = "cleared", items = {} })
  vim.cmd("Scry similar")
  wait("similar results at the cursor", 10000, function()
    return qf().title == "Scry: similar code"
  end)
  if not vim.fn.bufname(qf().items[1].bufnr):match("net/retry2.py$") then
    fail("similar (cursor): " .. vim.inspect(qf().items))
  end
  log("similar (cursor) ok")

  messages = {}
  vim.cmd("Scry status")
  wait("the status message", 10000, function()
    return messages[1] ~= nil
  end)
  if not messages[1]:match("ready") then
    fail("status: " .. messages[1])
  end
  log("status ok")

  vim.cmd("checkhealth scry")
  local report = table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), "\n")
  if report:match("ERROR") or not report:match("ready") then
    fail("checkhealth:\n" .. report)
  end
  log("checkhealth ok")
end

local ok, err = pcall(run)
if not ok then
  fail(tostring(err))
end
log("PASS")
vim.cmd("qall!")
