#!/usr/bin/env bash
# Load on scry-server over loopback with wrk: an authenticated read (GET a page of
# repositories) and an authenticated write (open an index sync session: the org's lock, a
# chunk quota check, garbage collection, an insert), each with an API key, on SQLite and on PostgreSQL, with one replica
# and with two (two processes on the same database, one wrk each, figures summed).
# Every request also counts against the org's rate limit, a write of its own.
#   bench/server-load.sh [SECONDS] [CONNECTIONS]      needs wrk (apt install wrk)
#   BACKENDS=sqlite (or postgres) runs one backend only.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
conns=${2:-32}
command -v wrk >/dev/null || { echo "needs wrk: apt install wrk" >&2; exit 1; }
cargo build --release -q -p scry-server
bin=$PWD/target/release/scry-server
work=$(mktemp -d)
chmod 755 "$work"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -n "${pgdata:-}" ]; then $as_pg "$pgbin/pg_ctl" -D "$pgdata" -m immediate stop >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cat >"$work/config.toml" <<EOF
[tiers.free]
max_repos = 3
max_chunks = 1000000000
requests_per_minute = 1000000000
EOF

# A throwaway PostgreSQL cluster (as `postgres` when run as root).
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
as_pg=""
[ "$(id -u)" = 0 ] && as_pg="runuser -u postgres --"
pgdata=$work/pg
mkdir -p "$pgdata" && [ -n "$as_pg" ] && chown postgres: "$pgdata"
pgport=$(free_port)
$as_pg "$pgbin/initdb" -D "$pgdata" -U postgres --auth=trust -E UTF8 >/dev/null
$as_pg "$pgbin/pg_ctl" -D "$pgdata" -l "$pgdata/log" -w \
  -o "-p $pgport -k $pgdata -c listen_addresses=127.0.0.1 -c max_connections=200" start >/dev/null

secrets_key=$(python3 -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())')

start() { # backend-arg... ; prints the port
  local port; port=$(free_port)
  SCRY_SERVER_LOG=warn "$bin" --config "$work/config.toml" --addr "127.0.0.1:$port" "$@" \
    >>"$work/server.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
  echo "$port"
}
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }

# The first refusal of each wrk thread goes to errors.txt, to say what went wrong.
cat >"$work/get.lua" <<'EOF'
wrk.headers["Authorization"] = "Bearer " .. os.getenv("SCRY_KEY")
local logged = false
function response(status, headers, body)
  if status >= 300 and not logged then
    logged = true
    local f = io.open(os.getenv("WRK_ERRORS"), "a")
    f:write(status .. " " .. body .. "\n")
    f:close()
  end
end
EOF
{ echo 'wrk.method = "POST"'
  echo "wrk.body = '{\"ref\": \"main\", \"root\": \"$(printf 'a%.0s' {1..64})\", \"chunks\": 5000}'"
  echo 'wrk.headers["Content-Type"] = "application/json"'; cat "$work/get.lua"; } >"$work/put.lua"
export WRK_ERRORS=$work/errors.txt

# One wrk per replica, in parallel; prints "req/s p50_ms p99_ms" (summed rate, worst percentile).
load() { # label url-suffix wrk-script ports...
  local label=$1 suffix=$2 script=$3; shift 3
  local n=$# c=$((conns / $#)) i=0 outs=() wrks=()
  for port in "$@"; do
    i=$((i + 1))
    local args=(-t 1 -c "$c" -d "${secs}s" --latency -s "$script")
    wrk "${args[@]}" "http://127.0.0.1:$port$suffix" >"$work/wrk.$i" 2>&1 &
    wrks+=($!)
    outs+=("$work/wrk.$i")
  done
  wait "${wrks[@]}"
  python3 - "$label" "$n" "${outs[@]}" <<'EOF'
import re, sys
label, n, files = sys.argv[1], sys.argv[2], sys.argv[3:]
def ms(v):
    num, unit = re.match(r"([\d.]+)(us|ms|s|m)", v).groups()
    return float(num) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[unit]
rate = p50 = p99 = 0.0
errors = 0
for f in files:
    t = open(f).read()
    if "Requests/sec" not in t or "50%" not in t: sys.exit(f"wrk failed ({label}):\n{t}")
    rate += float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
    p50 = max(p50, ms(re.search(r"^\s+50%\s+(\S+)", t, re.M).group(1)))
    p99 = max(p99, ms(re.search(r"^\s+99%\s+(\S+)", t, re.M).group(1)))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
    errors += int(m.group(1)) if m else 0
print(f"| {label} | {n} | {rate:,.0f} | {p50:.2f} | {p99:.2f} | {errors} |")
EOF
}

echo "| backend, request | replicas | requests/s | p50 ms | p99 ms | non-2xx |"
echo "|---|---|---|---|---|---|"
for backend in ${BACKENDS:-sqlite postgres}; do
  if [ "$backend" = sqlite ]; then
    db_args=(--data-dir "$work/sqlite")
  else
    # Replicas on PostgreSQL share the key that seals secrets at rest.
    db_args=(--database-url "postgres://postgres@127.0.0.1:$pgport/postgres"
      --secrets-key "$secrets_key")
  fi
  p1=$(start "${db_args[@]}")
  base="http://127.0.0.1:$p1"
  curl -sf -X POST "$base/v1/users" -H 'content-type: application/json' \
    -d '{"email":"load@example.com","password":"correct horse battery"}' >/dev/null || true
  token=$(curl -sf -X POST "$base/v1/sessions" -H 'content-type: application/json' \
    -d '{"email":"load@example.com","password":"correct horse battery"}' | json '["token"]')
  org=$(curl -sf -X POST "$base/v1/orgs" -H "authorization: Bearer $token" \
    -H 'content-type: application/json' -d '{"name":"load"}' | json '["id"]')
  for name in web api docs; do
    curl -sf -X POST "$base/v1/orgs/$org/repos" -H "authorization: Bearer $token" \
      -H 'content-type: application/json' -d "{\"name\":\"$name\"}" >/dev/null
  done
  repo=$(curl -sf "$base/v1/orgs/$org/repos" -H "authorization: Bearer $token" | json '["items"][0]["id"]')
  SCRY_KEY=$(curl -sf -X POST "$base/v1/orgs/$org/keys" -H "authorization: Bearer $token" \
    -H 'content-type: application/json' -d '{"name":"load","role":"member"}' | json '["key"]')
  export SCRY_KEY
  p2=$(start "${db_args[@]}")
  # The HTTP stack alone, as the ceiling the others are read against.
  [ "$backend" = sqlite ] && load "none: GET /healthz" "/healthz" "$work/get.lua" "$p1"
  for replicas in 1 2; do
    ports=("$p1"); [ "$replicas" = 2 ] && ports=("$p1" "$p2")
    load "$backend, read (GET repos)" "/v1/orgs/$org/repos" "$work/get.lua" "${ports[@]}"
    load "$backend, write (sync session)" "/v1/orgs/$org/repos/$repo/index/sessions" "$work/put.lua" "${ports[@]}"
  done
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait "${pids[@]}" 2>/dev/null || true
  pids=()
done
if [ -s "$WRK_ERRORS" ]; then
  echo "refusals seen (first of each wrk thread):" >&2
  sort "$WRK_ERRORS" | uniq -c | sort -rn | head >&2
  grep -E "ERROR|WARN" "$work/server.log" | sed 's/^.*Z //' | sort | uniq -c | sort -rn | head -5 >&2
fi
