#!/usr/bin/env bash
# Takes the README's screenshot from a real run: Neovim 0.11 in an xterm under Xvfb, the plugin
# set up on a small workspace, `:Scry search …` with its results in the quickfix window.
# Needs xvfb, xterm, x11-apps (xwd) and ImageMagick's `convert`.
#   extensions/neovim/screenshot.sh SCRY_BINARY NVIM OUT.png
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
scry=$(realpath "$1")
nvim=$(realpath "$2")
out=$3
run=$(mktemp -d)
display=:$((90 + RANDOM % 9))
Xvfb "$display" -screen 0 1000x560x24 >/dev/null 2>&1 &
xvfb=$!
trap 'kill $xvfb 2>/dev/null || true; rm -rf "$run"' EXIT
mkdir -p "$run/ws/.git"
cp -r "$here/../../tests/fixtures/workspace/." "$run/ws/"
cat >"$run/init.lua" <<LUA
vim.opt.rtp:prepend("$here")
vim.cmd("runtime plugin/scry.lua")
vim.o.termguicolors = true
vim.cmd("colorscheme habamax")
require("scry").setup({ cmd = { "$scry", "lsp" } })
vim.ui.select = function() end
vim.defer_fn(function()
  vim.cmd("Scry search retry a failed upload")
  vim.defer_fn(function() vim.cmd("copen") end, 1500)
end, 2500)
LUA
sleep 0.5
(cd "$run/ws" && DISPLAY=$display SCRY_INDEX_DIR=$run/index xterm -geometry 110x30 -fa Monospace -fs 11 \
  -bg '#1c1c1c' -fg '#d0d0d0' -e "$nvim" -u "$run/init.lua" net/retry.py) &
sleep 7
DISPLAY=$display xwd -root -silent | /usr/bin/convert xwd:- -crop 1000x560+0+0 "$out"
echo "$out"
