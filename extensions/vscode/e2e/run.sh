#!/usr/bin/env bash
# The extension inside real VS Code: installs code-server (which bundles VS Code), Chromium and
# playwright-core when missing, installs scry.vsix into a fresh profile, opens a fixture
# workspace and drives it (e2e/drive.js). Leaves a screenshot in e2e/out/.
#   extensions/vscode/e2e/run.sh SCRY_BINARY
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
ext=$(cd "$here/.." && pwd)
repo=$(cd "$ext/../.." && pwd)
scry=$(realpath "$1")
tools=$repo/.scry-editors
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v chromium >/dev/null; then
  noclean=$(mktemp)
  printf '#clear DPkg::Post-Invoke;\n' >"$noclean"
  as_root apt-get update -q >&2
  as_root env DEBIAN_FRONTEND=noninteractive apt-get -c "$noclean" install -y -q --no-install-recommends \
    chromium libkrb5-dev libxkbfile-dev libsecret-1-dev pkg-config >&2
  rm -f "$noclean"
fi

code_server=$tools/code-server/node_modules/code-server
if [ ! -f "$tools/code-server/node_modules/argon2/lib/binding/napi-v3/argon2.node" ]; then
  # Its ripgrep download reaches GitHub: seed the cache with the binary from npm instead.
  cache=${TMPDIR:-/tmp}/vscode-ripgrep-cache-1.15.11
  if [ ! -f "$cache/ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz" ]; then
    work=$(mktemp -d)
    (cd "$work" && npm pack --silent @vscode/ripgrep-linux-x64@1.18.0 >/dev/null && tar xzf ./*.tgz)
    mkdir -p "$cache"
    tar czf "$cache/ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz" -C "$work/package/bin" rg
    rm -rf "$work"
  fi
  rm -rf "$tools/code-server"
  # Install scripts run explicitly below: npm versions differ in whether they run them.
  npm install --no-audit --no-fund --ignore-scripts --prefix "$tools/code-server" code-server@4.100.3 >&2
  (cd "$code_server" &&
    npm_config_user_agent="npm/$(npm --version) node/$(node --version) linux x64" \
      npm_config_unsafe_perm=true npm_config_yes=true sh ./postinstall.sh >&2)
  # code-server loads argon2 at start; its prebuilt binary is on GitHub, so build it (with the
  # local Node headers).
  (cd "$tools/code-server/node_modules/argon2" &&
    npm_config_nodedir=${npm_config_nodedir:-/usr} ../.bin/node-pre-gyp install --fallback-to-build >&2)
fi
if [ ! -d "$tools/playwright/node_modules/playwright-core" ]; then
  npm install --no-audit --no-fund --prefix "$tools/playwright" playwright-core@1.52.0 >&2
fi

run=$(mktemp -d)
pgid=
cleanup() {
  if [ -n "$pgid" ]; then kill -- "-$pgid" 2>/dev/null || true; fi
  rm -rf "$run"
}
trap cleanup EXIT
mkdir -p "$run/user/User" "$run/extensions" "$run/ws" "$run/index" "$here/out"
cat >"$run/user/User/settings.json" <<JSON
{"workbench.startupEditor": "none", "window.autoDetectHighContrast": false,
 "workbench.colorTheme": "Default Dark Modern", "scry.server.path": "$scry"}
JSON
cp -r "$repo/tests/fixtures/workspace/." "$run/ws/"

export XDG_CONFIG_HOME=$run/config XDG_DATA_HOME=$run/data SCRY_INDEX_DIR=$run/index
"$code_server/out/node/entry.js" --user-data-dir "$run/user" --extensions-dir "$run/extensions" \
  --install-extension "$ext/scry.vsix" >&2
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
setsid node "$code_server/out/node/entry.js" --bind-addr "127.0.0.1:$port" --auth none \
  --disable-telemetry --disable-update-check --disable-workspace-trust \
  --disable-getting-started-override --user-data-dir "$run/user" --extensions-dir "$run/extensions" \
  "$run/ws" >"$run/code-server.log" 2>&1 &
pgid=$!
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break
  sleep 0.2
done
if ! NODE_PATH=$tools/playwright/node_modules node "$here/drive.js" \
  "http://127.0.0.1:$port/?folder=$run/ws" "$here/out"; then
  echo "code-server log:" >&2
  tail -30 "$run/code-server.log" >&2
  find "$run/user/logs" -name '*Scry*.log' -exec tail -30 {} + >&2 || true
  exit 1
fi
