-- :Scry search[!] [query] (! = every synced repository of the org) | similar (a visual range, or the definition at the cursor) | status | reindex
if vim.g.loaded_scry then
  return
end
vim.g.loaded_scry = true

local subcommands = { "search", "similar", "status", "reindex" }

vim.api.nvim_create_user_command("Scry", function(opts)
  local scry = require("scry")
  local sub, rest = (opts.args or ""):match("^%s*(%S*)%s*(.-)%s*$")
  if sub == "search" then
    scry.search(rest, opts.bang and "org" or nil)
  elseif sub == "similar" then
    if opts.range > 0 then
      scry.similar(opts.line1, opts.line2)
    else
      scry.similar()
    end
  elseif sub == "status" then
    scry.status()
  elseif sub == "reindex" then
    scry.reindex()
  else
    vim.notify("scry: :Scry " .. table.concat(subcommands, "|"), vim.log.levels.WARN)
  end
end, {
  nargs = "*",
  range = true,
  bang = true,
  complete = function(arg_lead, line)
    if line:match("^%S+%s+%S+%s") then
      return {}
    end
    return vim.tbl_filter(function(s)
      return s:sub(1, #arg_lead) == arg_lead
    end, subcommands)
  end,
  desc = "Scry: semantic code search",
})
