-- Scry for Neovim (0.7 and later): starts `scry lsp` for your files and gives you
-- :Scry search / similar / status / reindex, with results in a picker and the quickfix list.
local M = {}

local defaults = {
  -- The server command; `scry` on PATH unless set (or SCRY_PATH is set).
  cmd = nil,
  -- A buffer's workspace is the nearest directory above it holding one of these.
  root_markers = { ".git", ".hg", ".scry.toml" },
  -- Sent to the server (see docs/lsp-extensions.md): model, exclude, limit.
  settings = {},
  -- Results per request.
  limit = 20,
  -- Also fill the quickfix list with the results.
  quickfix = true,
  -- Where results open: "auto" (Telescope, fzf-lua or snacks.nvim when installed, else
  -- vim.ui.select), or one of "telescope", "fzf-lua", "snacks", "select".
  picker = "auto",
}

M.config = vim.deepcopy(defaults)
M.state = { status = {}, sync = {} }

local modern = vim.fn.has("nvim-0.10") == 1

local function server_cmd()
  if M.config.cmd then
    return M.config.cmd
  end
  local env = os.getenv("SCRY_PATH")
  return { (env and env ~= "") and env or "scry", "lsp" }
end

local function notify(msg, level)
  vim.notify("scry: " .. msg, level or vim.log.levels.INFO)
end

local function root_of(buf)
  local name = vim.api.nvim_buf_get_name(buf)
  local dir = name ~= "" and vim.fn.fnamemodify(name, ":p:h") or vim.fn.getcwd()
  for _, marker in ipairs(M.config.root_markers) do
    local found = vim.fn.finddir(marker, dir .. ";")
    if found ~= "" then
      return vim.fn.fnamemodify(found, ":p:h:h")
    end
    found = vim.fn.findfile(marker, dir .. ";")
    if found ~= "" then
      return vim.fn.fnamemodify(found, ":p:h")
    end
  end
  return dir
end

-- The Scry client serving `buf` (any Scry client when `buf` is false), if any.
function M.client(buf)
  if buf == nil then
    buf = vim.api.nvim_get_current_buf()
  end
  local clients
  if vim.lsp.get_clients then
    clients = vim.lsp.get_clients({ bufnr = buf or nil, name = "scry" })
  else
    clients = buf and vim.lsp.buf_get_clients(buf) or vim.lsp.get_active_clients()
  end
  for _, client in pairs(clients) do
    if client.name == "scry" then
      return client
    end
  end
  return nil
end

local function request(client, method, params, handler, buf)
  local wrapped = function(err, result)
    if err then
      notify(err.message or vim.inspect(err), vim.log.levels.ERROR)
      return
    end
    handler(result)
  end
  if modern then
    client:request(method, params, wrapped, buf)
  else
    client.request(method, params, wrapped, buf)
  end
end

local handlers = {
  ["scry/indexStatus"] = function(_, status)
    M.state.status[status.root] = status
  end,
  ["scry/syncStatus"] = function(_, sync)
    M.state.sync[sync.root] = sync
  end,
}

local started = {}

-- Starts (once per workspace) and attaches the server to a file buffer.
local function attach(buf)
  if vim.bo[buf].buftype ~= "" or vim.api.nvim_buf_get_name(buf) == "" then
    return
  end
  local root = root_of(buf)
  local id = started[root]
  if not id then
    id = vim.lsp.start_client({
      name = "scry",
      cmd = server_cmd(),
      root_dir = root,
      workspace_folders = { { uri = vim.uri_from_fname(root), name = vim.fn.fnamemodify(root, ":t") } },
      init_options = M.config.settings,
      handlers = handlers,
    })
    if not id then
      notify("cannot start " .. table.concat(server_cmd(), " "), vim.log.levels.ERROR)
      return
    end
    started[root] = id
  end
  vim.lsp.buf_attach_client(buf, id)
end

function M.setup(opts)
  M.config = vim.tbl_deep_extend("force", vim.deepcopy(defaults), opts or {})
  if vim.lsp.config and vim.lsp.enable then
    vim.lsp.config("scry", {
      cmd = server_cmd(),
      root_dir = function(buf, on_dir)
        if vim.bo[buf].buftype == "" and vim.api.nvim_buf_get_name(buf) ~= "" then
          on_dir(root_of(buf))
        end
      end,
      init_options = M.config.settings,
      handlers = handlers,
    })
    vim.lsp.enable("scry")
    return
  end
  local group = vim.api.nvim_create_augroup("scry", { clear = true })
  vim.api.nvim_create_autocmd({ "BufReadPost", "BufNewFile" }, {
    group = group,
    callback = function(args)
      attach(args.buf)
    end,
  })
  for _, buf in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(buf) then
      attach(buf)
    end
  end
end

local function client_or_warn()
  local client = M.client()
  if not client then
    notify("no Scry server for this buffer (call require('scry').setup() and open a file)", vim.log.levels.WARN)
  end
  return client
end

-- Quickfix items from results: each file's best place, then its other matches under it.
function M.to_items(results)
  local items = {}
  for _, r in ipairs(results) do
    local first = (r.snippet or ""):match("[^\n]*") or ""
    local symbol = (r.symbol and r.symbol ~= vim.NIL) and (r.symbol .. "  ") or ""
    local here = r.uri and r.uri ~= vim.NIL
    local filename = here and vim.uri_to_fname(r.uri) or nil
    table.insert(items, {
      filename = filename,
      lnum = r.range.start.line + 1,
      col = r.range.start.character + 1,
      -- An org-wide result elsewhere names its repository, path and line instead of a file.
      text = here and (symbol .. vim.trim(first))
        or string.format("%s/%s:%d  %s", r.repo or "?", r.path or "", r.range.start.line + 1, symbol),
    })
    for _, m in ipairs(r.more or {}) do
      table.insert(items, {
        filename = filename,
        lnum = m.range.start.line + 1,
        col = 1,
        text = "  also " .. (m.symbol or ""),
      })
    end
  end
  return items
end

-- Shows results: the quickfix list, then the picker (see `picker`).
function M.show(title, results)
  if #results == 0 then
    notify(title .. ": no results")
    return
  end
  local items = M.to_items(results)
  if M.config.quickfix then
    vim.fn.setqflist({}, " ", { title = title, items = items })
  end
  require("scry.pickers").show(M.config.picker, title, items)
end

-- `scope`: nil (the workspace) or "org" (every synced repository of its org: :Scry search!).
function M.search(query, scope)
  local client = client_or_warn()
  if not client then
    return
  end
  local run = function(q)
    if not q or vim.trim(q) == "" then
      return
    end
    local params = { query = q, limit = M.config.limit, scope = scope }
    local title = (scope == "org" and "Scry (org): " or "Scry: ") .. q
    request(client, "scry/search", params, function(results)
      M.show(title, results)
    end, 0)
  end
  if query and query ~= "" then
    run(query)
  else
    vim.ui.input({ prompt = "Scry search: " }, run)
  end
end

-- Code like lines `first`..`last` (1-based), or like the definition at the cursor.
function M.similar(first, last)
  local client = client_or_warn()
  if not client then
    return
  end
  local range
  if first and last then
    range = { start = { line = first - 1, character = 0 }, ["end"] = { line = last, character = 0 } }
  else
    local cursor = vim.api.nvim_win_get_cursor(0)
    local pos = { line = cursor[1] - 1, character = 0 }
    range = { start = pos, ["end"] = pos }
  end
  local params = { textDocument = { uri = vim.uri_from_bufnr(0) }, range = range, limit = M.config.limit }
  request(client, "scry/similar", params, function(results)
    M.show("Scry: similar code", results)
  end, 0)
end

-- The index state of each workspace, as lines.
function M.status_lines(status)
  local lines = {}
  for _, ws in ipairs(status.workspaces or {}) do
    table.insert(lines, string.format("%s: %s — %d files, %d chunks, model %s%s",
      vim.uri_to_fname(ws.root), ws.state, ws.files, ws.chunks,
      ws.model == vim.NIL and "none (lexical)" or tostring(ws.model),
      ws.message ~= vim.NIL and ws.message and ("\n  " .. ws.message) or ""))
  end
  for _, sync in ipairs(status.sync or {}) do
    table.insert(lines, string.format("%s: sync %s%s%s",
      vim.uri_to_fname(sync.root), sync.state,
      sync.generation ~= vim.NIL and (", generation " .. tostring(sync.generation)) or "",
      sync.message ~= vim.NIL and sync.message and ("\n  " .. sync.message) or ""))
  end
  return lines
end

function M.status()
  local client = client_or_warn()
  if not client then
    return
  end
  request(client, "scry/status", vim.NIL, function(status)
    notify(table.concat(M.status_lines(status), "\n"))
  end, 0)
end

function M.reindex()
  local client = client_or_warn()
  if not client then
    return
  end
  request(client, "workspace/executeCommand", { command = "scry.reindex" }, function()
    notify("reindexing")
  end, 0)
end

-- A short state for statuslines: "scry: indexing", "scry: ready", "scry: ready, syncing", or ""
-- without a server.
function M.statusline()
  for _, ws in pairs(M.state.status) do
    if ws.state ~= "ready" then
      return "scry: " .. ws.state
    end
  end
  if not next(M.state.status) then
    return ""
  end
  for _, sync in pairs(M.state.sync) do
    if sync.state ~= "synced" then
      return "scry: ready, sync " .. sync.state
    end
  end
  return next(M.state.sync) and "scry: ready, synced" or "scry: ready"
end

return M
