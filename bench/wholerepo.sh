#!/usr/bin/env bash
# Whole-repository development set: 126 questions about fourteen projects from PyPI, crates.io
# and Debian's sources (Python, Rust, Elixir, OCaml, Haskell, Scala), none in the model's corpus
# nor in its crates' dependencies (cargo vendor of xtask/corpus brings tokio,
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
    kind, _, spec = r["url"].partition(":")
    if kind not in ("pypi", "debian"):
        kind, spec = "url", r["url"]
    print(kind, spec, r["name"])
PYEOF
  [ -d "$D/repos/$dir" ] && continue
  case $kind in
    pypi)
      python3 -m pip download --quiet --no-deps --no-binary=:all: -d "$D/dl" "$spec"
      tar xzf "$D/dl/$dir.tar.gz" -C "$D/repos" ;;
    debian)  # a Debian source package's upstream tarball
      curl -fsSL -o "$D/dl/${spec##*/}" "http://deb.debian.org/debian/$spec"
      tar xf "$D/dl/${spec##*/}" -C "$D/repos" ;;
    *)
      curl -fsSL -o "$D/dl/$dir.crate" "$spec"
      tar xzf "$D/dl/$dir.crate" -C "$D/repos" ;;
  esac
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
