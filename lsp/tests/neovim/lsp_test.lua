-- A real Neovim (0.7 or 0.11) drives `scry lsp` headless, as a user's config would:
-- attach, wait for the index, search, edit without saving, save, delete a file, similar code.
-- Run: SCRY_BIN=… SCRY_WS=… nvim --headless --clean -u NONE -c 'luafile lsp_test.lua'
local bin = assert(os.getenv("SCRY_BIN"), "SCRY_BIN")
local ws = assert(os.getenv("SCRY_WS"), "SCRY_WS")
local modern = vim.fn.has("nvim-0.10") == 1

local function log(msg)
  io.stdout:write(msg .. "\n")
end

local function fail(msg)
  io.stderr:write("FAIL: " .. msg .. "\n")
  vim.cmd("cquit 1")
end

local client_id = vim.lsp.start_client({
  name = "scry",
  cmd = { bin, "lsp" },
  root_dir = ws,
  workspace_folders = { { uri = vim.uri_from_fname(ws), name = "ws" } },
})
if not client_id then
  fail("the client did not start")
end
local client = vim.lsp.get_client_by_id(client_id)

local function request(method, params)
  local response, err
  if modern then
    response, err = client:request_sync(method, params, 20000, 0)
  else
    response, err = client.request_sync(method, params, 20000, 0)
  end
  if not response then
    fail(method .. ": no response (" .. tostring(err) .. ")")
  end
  if response.err then
    fail(method .. ": " .. vim.inspect(response.err))
  end
  return response.result
end

local function wait(what, ms, cond)
  if not vim.wait(ms, cond, 50) then
    fail("timed out waiting for " .. what)
  end
end

local function first_path(query)
  local results = request("scry/search", { query = query, limit = 5 })
  return results[1] and results[1].path, results
end

local function run()
  wait("initialize", 20000, function()
    return (modern and client.initialized) or (not modern and client.resolved_capabilities ~= nil)
  end)
  vim.cmd("edit " .. ws .. "/text/slug.py")
  local buf = vim.api.nvim_get_current_buf()
  vim.lsp.buf_attach_client(buf, client_id)

  wait("the index", 30000, function()
    local status = request("scry/status", vim.NIL)
    return status.workspaces[1] and status.workspaces[1].state == "ready"
  end)
  log("indexed")

  local path = first_path("retry a failed upload")
  if path ~= "net/retry.py" then
    fail("search: expected net/retry.py, got " .. tostring(path))
  end
  log("search ok")

  -- Unsaved edits are searchable.
  vim.api.nvim_buf_set_lines(buf, -1, -1, false, {
    "",
    "",
    "def parse_invoice_total(document):",
    '    """Sum the line items of an invoice."""',
    "    return sum(item.price for item in document.items)",
  })
  wait("the unsaved function", 10000, function()
    local results = request("scry/search", { query = "parse_invoice_total", limit = 5 })
    return results[1] and results[1].symbol == "parse_invoice_total"
  end)
  log("unsaved edit ok")

  -- Saved: still found, now from the file on disk.
  vim.cmd("write")
  wait("the saved function", 10000, function()
    local status = request("scry/status", vim.NIL)
    local results = request("scry/search", { query = "parse_invoice_total", limit = 5 })
    return status.workspaces[1].buffers == 0 and results[1] and results[1].path == "text/slug.py"
  end)
  log("save ok")

  -- A file deleted on disk leaves the results.
  os.remove(ws .. "/math/stats.py")
  wait("the deleted file to leave", 10000, function()
    local _, results = first_path("arithmetic mean of numbers")
    for _, r in ipairs(results) do
      if r.path == "math/stats.py" then
        return false
      end
    end
    return true
  end)
  log("delete ok")

  -- Similar code at a range.
  local similar = request("scry/similar", {
    textDocument = { uri = vim.uri_from_fname(ws .. "/net/retry.py") },
    range = { start = { line = 3, character = 0 }, ["end"] = { line = 10, character = 0 } },
  })
  if not similar[1] or similar[1].path ~= "net/retry2.py" then
    fail("similar: " .. vim.inspect(similar))
  end
  log("similar ok")

  local symbols = request("workspace/symbol", { query = "slugify" })
  if not symbols[1] or symbols[1].name ~= "slugify" then
    fail("workspace/symbol: " .. vim.inspect(symbols))
  end
  log("symbols ok")
end

local ok, err = pcall(run)
if not ok then
  fail(tostring(err))
end
if modern then
  client:stop()
else
  client.stop()
end
vim.wait(2000, function()
  return vim.lsp.get_client_by_id(client_id) == nil
end, 50)
log("PASS")
vim.cmd("qall!")
