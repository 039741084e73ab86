#!/usr/bin/env bash
# The real desktop app end to end: under Xvfb, with a real Secret Service (D-Bus session and
# gnome-keyring) and a real scry-server (SQLite) on loopback, driven through tauri-driver and
# WebKitWebDriver by drive.py. Installs webkit2gtk-driver and xvfb (Debian) and tauri-driver
# (crates.io), imagemagick for screenshots, when missing. Leaves a screenshot per step and timings.json in e2e/out/.
#   desktop/e2e/run.sh APP_BINARY SERVER_BINARY
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if [ -z "${SCRY_E2E_INSIDE:-}" ]; then
  missing=()
  command -v WebKitWebDriver >/dev/null || missing+=(webkit2gtk-driver)
  command -v xvfb-run >/dev/null || missing+=(xvfb xauth)
  command -v import >/dev/null || missing+=(imagemagick)
  if [ ${#missing[@]} -gt 0 ]; then
    noclean=$(mktemp)
    printf '#clear DPkg::Post-Invoke;\n' >"$noclean"
    as_root apt-get update -q >&2
    as_root env DEBIAN_FRONTEND=noninteractive apt-get -c "$noclean" install -y -q "${missing[@]}" >&2
    rm -f "$noclean"
  fi
  command -v tauri-driver >/dev/null || cargo install tauri-driver --locked --version '^2' >&2
  export SCRY_E2E_INSIDE=1
  exec "$repo/scripts/with-secret-service.sh" xvfb-run -a -s '-screen 0 1000x700x24' "$0" "$@"
fi

app=$(realpath "$1")
server_bin=$(realpath "$2")
out=$here/out
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
rm -rf "$out"
mkdir -p "$out" "$work/home/.cache" "$work/home/.config" "$work/project/src" "$work/other"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port)
cat >"$work/server.toml" <<TOML
[tiers.free]
max_repos = 3
max_chunks = 10000
requests_per_minute = 100000
TOML
SCRY_SERVER_LOG=warn "$server_bin" --config "$work/server.toml" --data-dir "$work/data" \
  --addr "127.0.0.1:$port" >"$out/server.log" 2>&1 &
pids+=($!)
server="http://127.0.0.1:$port"
for _ in $(seq 100); do curl -sf "$server/readyz" >/dev/null && break; sleep 0.1; done

# What the person indexes: a small project with a file that must never be synced.
cat >"$work/project/src/upload.py" <<'PY'
def retry_upload(path, attempts=3):
    """Send a file again when the network fails."""
    for _ in range(attempts):
        pass
PY
printf 'pub fn render(words: &[&str]) -> String {\n    words.join(" ")\n}\n' >"$work/project/src/render.rs"
printf 'token: hunter2\n' >"$work/project/secrets.yaml"
printf 'package main\n\nfunc main() {}\n' >"$work/other/main.go"
# The "editor" results open in: it writes down what it was asked to open.
printf '#!/bin/sh\necho "$@" > "%s.tmp" && mv "%s.tmp" "%s"\n' "$work/opened" "$work/opened" "$work/opened" >"$work/editor.sh"
chmod +x "$work/editor.sh"
# The "browser" the device flow opens: it writes down the page.
printf '#!/bin/sh\necho "$1" > "%s"\n' "$work/browsed" >"$work/browser.sh"
chmod +x "$work/browser.sh"

# The app (started by tauri-driver) gets a throwaway home and the test server.
export HOME=$work/home XDG_CONFIG_HOME=$work/home/.config XDG_CACHE_HOME=$work/home/.cache \
  XDG_DATA_HOME=$work/home/.local/share SCRY_SERVER=$server SCRY_SYNC_QUIET_MS=500 \
  BROWSER=$work/browser.sh
unset SCRY_API_KEY SCRY_INDEX_DIR
driver_port=$(free_port)
native_port=$(free_port)
tauri-driver --port "$driver_port" --native-port "$native_port" \
  --native-driver "$(command -v WebKitWebDriver)" >"$out/driver.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$driver_port/status" >/dev/null && break; sleep 0.1; done

DRIVER="http://127.0.0.1:$driver_port" SERVER=$server APP=$app PROJECT=$work/project \
  OTHER=$work/other OUT=$out EDITOR_SCRIPT=$work/editor.sh OPENED=$work/opened \
  BROWSED=$work/browsed \
  python3 "$here/drive.py"
