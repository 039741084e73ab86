#!/usr/bin/env bash
# Whole-repository development set: 88 questions about ten PyPI and crates.io projects, none in
# the model's corpus nor in its crates' dependencies (cargo vendor of xtask/corpus brings tokio,
# hyper and serde_json: they are not here), relevance judged per file, scored by the evaluation's
# own scorer (../shared/eval/wholerepo, NDCG@10 by file). Sources are fetched once under
# ${DEV_DIR}.
#   bench/wholerepo.sh [SCRY_BINARY | bm25] [run.py options…]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
eval_dir=${EVAL_SCRIPTS:-$here/../../shared/eval}
D=${DEV_DIR:-/tmp/scry-dev}/wholerepo
mkdir -p "$D/dl" "$D/repos"
python3 - "$here/wholerepo/repos.json" <<'PYEOF' | while read -r kind spec dir; do
import json, sys
for r in json.load(open(sys.argv[1])):
    kind = "pypi" if r["url"].startswith("pypi:") else "crate"
    print(kind, r["url"].removeprefix("pypi:"), r["name"])
PYEOF
  [ -d "$D/repos/$dir" ] && continue
  if [ "$kind" = pypi ]; then
    python3 -m pip download --quiet --no-deps --no-binary=:all: -d "$D/dl" "$spec"
    tar xzf "$D/dl/$dir.tar.gz" -C "$D/repos"
  else
    curl -fsSL -o "$D/dl/$dir.crate" "$spec"
    tar xzf "$D/dl/$dir.crate" -C "$D/repos"
  fi
done
# `bm25` as the binary scores the scorer's BM25 baseline (50-line windows) instead.
scry=${1:-$here/../target/release/scry}
shift || true
case $scry in
  bm25) tool=(--baseline bm25) ;;
  *) tool=(--tool "$scry") ;;
esac
SCRY_INDEX_DIR=$(mktemp -d) python3 "$eval_dir/wholerepo/run.py" --data "$here/wholerepo" \
  --repos "$D/repos" "${tool[@]}" "$@"
