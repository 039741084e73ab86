#!/usr/bin/env bash
# Development sets for tuning the ranking on code that is *not* the evaluation set: real Python
# packages from PyPI and real Rust crates from crates.io (pinned below), turned into
# docstring→function retrieval sets and renamed-clone sets by the evaluation's own builders.
#   bench/devsets.sh [SCRY_BINARY]      (sets are built once under ${DEV_DIR:-/tmp/scry-dev})
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
eval_dir=${EVAL_SCRIPTS:-$here/../../shared/eval}
D=${DEV_DIR:-/tmp/scry-dev}
PY_PACKAGES="rich==13.9.4 click==8.1.7 requests==2.32.3 attrs==24.2.0 jinja2==3.1.4 httpx==0.27.2 pydantic==2.9.2"
# Crates outside the model's corpus *and* its dependency closure (cargo vendor of xtask/corpus
# brings regex-automata, serde_json, tokio and hyper, so they are not here).
RS_CRATES="clap_builder@4.5.20 indicatif@0.17.8 pulldown-cmark@0.12.2 ureq@2.10.1 minijinja@2.5.0"

build_py() {
  [ -f "$D/py/queries.jsonl" ] && return
  mkdir -p "$D/py-src" && cd "$D/py-src"
  python3 -m pip download --quiet --no-deps --no-binary=:none: -d wheels $PY_PACKAGES
  for w in wheels/*.whl; do python3 -m zipfile -e "$w" src/; done
  rm -rf src/*.dist-info
  python3 "$eval_dir/corpus.py" build --lang py --src "$D/py-src/src" --out "$D/py" --max 1000
  python3 "$eval_dir/clones.py" build --set "$D/py" --out "$D/clones-py" --n 300
}

build_rs() {
  [ -f "$D/rs/queries.jsonl" ] && return
  # cargo fetches from crates.io; a throwaway project names the crates, `cargo vendor` unpacks them.
  local proj="$D/rs-fetch"
  mkdir -p "$proj/src" "$D/rs-src"
  : > "$proj/src/lib.rs"
  { printf '[package]\nname = "fetch"\nversion = "0.0.0"\nedition = "2021"\n[dependencies]\n'
    for spec in $RS_CRATES; do printf '%s = "=%s"\n' "${spec%@*}" "${spec#*@}"; done; } > "$proj/Cargo.toml"
  (cd "$proj" && cargo vendor --quiet --versioned-dirs vendor >/dev/null)
  for spec in $RS_CRATES; do cp -r "$proj/vendor/${spec%@*}-${spec#*@}" "$D/rs-src/"; done
  python3 "$eval_dir/corpus.py" build --lang rs --src "$D/rs-src" --out "$D/rs" --max 1000
  python3 "$eval_dir/clones.py" build --set "$D/rs" --out "$D/clones-rs" --n 300
}

build_py
build_rs
scry=${1:-}
for set in py rs; do
  python3 "$eval_dir/run_eval.py" --set "$D/$set" ${scry:+--scry "$scry"} --json
  python3 "$eval_dir/clones.py" run --set "$D/clones-$set" ${scry:+--scry "$scry"}
done
