#!/usr/bin/env bash
# Fetches fusepy (one pure-Python module, pinned) from PyPI into .scry-py/, for bench/slowfs.py
# and the stalled-mount test. Prints the directory to put on PYTHONPATH.
#   scripts/fetch-fusepy.sh [DEST]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
dest=${1:-$here/.scry-py}
version=3.0.1
if [ -f "$dest/fuse.py" ]; then
  echo "$dest"
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download --quiet --no-deps --no-binary=:all: -d "$tmp" "fusepy==$version" >&2
mkdir -p "$dest"
tar -xzf "$tmp/fusepy-$version.tar.gz" -C "$tmp"
cp "$tmp/fusepy-$version/fuse.py" "$dest/fuse.py"
echo "$dest"
