# Sourced by the benchmarks that need an account: starts `scry-server` (SQLite) on a free
# loopback port with an operator token, signs a user up, makes an org on an enterprise limit and
# a member API key, and points `scry` at it. Needs $server_bin and $work; sets $server (the
# pid, for the caller's cleanup), $base, $org, $key and the environment `scry` reads.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$work/config.toml" <<TOML
admin_token = "operator-secret"
[tiers.free]
max_repos = 3
max_chunks = 10000
requests_per_minute = 1000000
TOML
# $server_args: more flags for the service (a PostgreSQL URL and secrets key).
SCRY_SERVER_LOG=warn "$server_bin" --config "$work/config.toml" --data-dir "$work/data" \
  --addr "127.0.0.1:$port" ${server_args[@]+"${server_args[@]}"} >"$work/server.log" 2>&1 &
server=$!
base="http://127.0.0.1:$port"
for _ in $(seq 100); do curl -sf "$base/readyz" >/dev/null && break; sleep 0.1; done

json() { python3 -I -c "import json,sys; print(json.load(sys.stdin)$1)"; }
post() { curl -sf -X "${4:-POST}" "$base$1" -H "authorization: Bearer $2" -H 'content-type: application/json' -d "$3"; }
curl -sf -X POST "$base/v1/users" -H 'content-type: application/json' \
  -d '{"email":"bench@example.com","password":"correct horse battery"}' >/dev/null
token=$(curl -sf -X POST "$base/v1/sessions" -H 'content-type: application/json' \
  -d '{"email":"bench@example.com","password":"correct horse battery"}' | json '["token"]')
org=$(post /v1/orgs "$token" '{"name":"bench"}' | json '["id"]')
post "/v1/admin/orgs/$org/tier" operator-secret \
  '{"tier":"enterprise","limits":{"max_repos":100,"max_chunks":100000000,"requests_per_minute":1000000}}' PUT >/dev/null
key=$(post "/v1/orgs/$org/keys" "$token" '{"name":"bench","role":"member"}' | json '["key"]')

export SCRY_SERVER=$base SCRY_API_KEY=$key XDG_CONFIG_HOME=$work/home \
  DBUS_SESSION_BUS_ADDRESS=unix:path=/nonexistent/bench-bus

# -I: a working directory that is a Python tree must not shadow the interpreter's modules.
# The seconds go to stderr; a failed command's error to $work/errors, shown at exit.
seconds() { python3 -I -c 'import sys,time,subprocess; t=time.monotonic(); r=subprocess.run(sys.argv[2:], stdout=subprocess.PIPE, stderr=subprocess.PIPE); sys.stderr.write(f"{time.monotonic()-t:.3f}\n"); sys.stdout.buffer.write(r.stdout); r.returncode and open(sys.argv[1], "ab").write(r.stderr); sys.exit(r.returncode)' "$work/errors" "$@"; }
median() { python3 -I -c 'import statistics,sys; print(f"{statistics.median(float(x) for x in sys.argv[1:]):.3f}")' "$@"; }
