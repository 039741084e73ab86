-- :checkhealth scry
local M = {}

local health = vim.health or require("health")
local start = health.start or health.report_start
local ok = health.ok or health.report_ok
local warn = health.warn or health.report_warn
local fail = health.error or health.report_error

function M.check()
  local scry = require("scry")
  start("scry")
  if vim.fn.has("nvim-0.7") == 0 then
    fail("Neovim 0.7 or later is needed")
  end
  local cmd = scry.config.cmd or { (os.getenv("SCRY_PATH") ~= nil and os.getenv("SCRY_PATH") ~= "") and os.getenv("SCRY_PATH") or "scry", "lsp" }
  if vim.fn.executable(cmd[1]) == 1 then
    local version = vim.fn.system({ cmd[1], "--version" })
    ok("server: " .. vim.fn.exepath(cmd[1]) .. " (" .. vim.trim(version) .. ")")
  else
    fail("server `" .. cmd[1] .. "` not found", {
      "cargo install --path lsp (in a Scry checkout), or set SCRY_PATH, or setup{ cmd = { '/path/to/scry', 'lsp' } }",
    })
  end
  local client = scry.client(false)
  if not client then
    warn("no Scry server is running (call require('scry').setup() and open a file)")
    return
  end
  local response
  if vim.fn.has("nvim-0.10") == 1 then
    response = client:request_sync("scry/status", vim.NIL, 5000)
  else
    response = client.request_sync("scry/status", vim.NIL, 5000)
  end
  if not response or response.err then
    fail("scry/status failed: " .. vim.inspect(response and response.err))
    return
  end
  for _, line in ipairs(scry.status_lines(response.result)) do
    if line:match(": ready") then
      ok(line)
    else
      warn(line)
    end
  end
end

return M
