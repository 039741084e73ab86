#!/usr/bin/env bash
# Schemathesis against a running scry-server: generates requests from /openapi.json, positive
# and negative, and fails on any 5xx, on a response that breaks its documented schema or
# content type, and on accepted invalid input.
#   server/tests/schemathesis.sh [path/to/scry-server]      (default: target/debug/scry-server)
set -euo pipefail
cd "$(dirname "$0")/../.."
bin="${1:-target/debug/scry-server}"
[ -x "$bin" ] || { echo "no scry-server at $bin: cargo build -p scry-server" >&2; exit 1; }

venv=$PWD/target/schemathesis-venv
if [ ! -x "$venv/bin/schemathesis" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "schemathesis==4.32.5"
fi

work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# The default tiers and throttles, with limits a fuzzer stays under.
cat >"$work/config.toml" <<EOF
admin_token = "operator-secret"
[throttle]
signups_per_address = 1000000
login_failures_per_account = 1000000
login_failures_per_address = 1000000
device_codes_per_address = 1000000
device_verify_failures_per_user = 1000000
[tiers.free]
max_repos = 3
max_chunks = 10000
requests_per_minute = 1000000
[tiers.pro]
max_repos = 20
max_chunks = 100000
requests_per_minute = 1000000
EOF
SCRY_SERVER_LOG=warn "$bin" --config "$work/config.toml" --data-dir "$work/data" \
  --addr "127.0.0.1:$port" >"$work/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$work"' EXIT
base="http://127.0.0.1:$port"
for _ in $(seq 100); do
  curl -sf "$base/readyz" >/dev/null && break
  sleep 0.1
done

# A user with a session and an organisation, so authenticated routes get past authentication.
curl -sf -X POST "$base/v1/users" -H 'content-type: application/json' \
  -d '{"email":"fuzz@example.com","password":"correct horse battery"}' >/dev/null
token=$(curl -sf -X POST "$base/v1/sessions" -H 'content-type: application/json' \
  -d '{"email":"fuzz@example.com","password":"correct horse battery"}' |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
curl -sf -X POST "$base/v1/orgs" -H "authorization: Bearer $token" \
  -H 'content-type: application/json' -d '{"name":"fuzz"}' >/dev/null

status=0
# From the scratch directory: schemathesis keeps its cache in the working directory.
(cd "$work" && "$venv/bin/schemathesis" run "$base/openapi.json" \
  --checks not_a_server_error,response_schema_conformance,content_type_conformance,negative_data_rejection \
  --header "Authorization: Bearer $token" \
  --exclude-path /v1/sessions/current \
  --max-examples "${SCHEMATHESIS_EXAMPLES:-30}" \
  --workers 2 \
  --seed 1 \
  --no-color) || status=$?
if [ "$status" != 0 ]; then
  echo "--- server log" >&2
  tail -50 "$work/server.log" >&2
fi
exit "$status"
