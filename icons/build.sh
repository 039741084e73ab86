#!/usr/bin/env bash
# Renders icons/scry.svg to the PNG sizes the VS Code marketplace (128, 256) and a desktop app
# (32, 64, 128, 256, 512, 1024) use: icons/png/scry-<size>.png. Needs rsvg-convert (Debian
# librsvg2-bin; installed when missing).
#   icons/build.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
if ! command -v rsvg-convert >/dev/null; then
  as_root apt-get update -q >&2
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends librsvg2-bin >&2
fi
mkdir -p "$here/png"
for size in 32 64 128 256 512 1024; do
  rsvg-convert --width "$size" --height "$size" "$here/scry.svg" -o "$here/png/scry-$size.png"
done
ls "$here/png"
