#!/usr/bin/env bash
# A full disk under `scry-server` on SQLite: its data directory is a tmpfs that a filler runs
# full while an org keeps creating API keys (a write) and listing them (a read). Prints what
# the writes and reads answered while full, whether the service recovers without a restart
# once space returns, whether every write it acknowledged is there (and none it refused), and
# SQLite's integrity check. Needs root (mount).
#   bench/server-disk-full.sh [SCRY_SERVER_BINARY] [WRITES]
set -euo pipefail
cd "$(dirname "$0")/.."
server_bin=$(realpath "${1:-target/release/scry-server}")
writes=${2:-40}
work=$(mktemp -d)
mkdir "$work/data"
mount -t tmpfs -o size=16m tmpfs "$work/data" || { echo "cannot mount a tmpfs (root needed)" >&2; exit 1; }
server=""
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; wait 2>/dev/null; umount "$work/data"; rm -rf "$work"' EXIT
# shellcheck source=bench/loopback-server.sh
. bench/loopback-server.sh

# One request: prints its HTTP status; a created key's name goes to $work/acked.
write_key() {
  local code
  code=$(curl -s -o "$work/out" -w '%{http_code}' -X POST "$base/v1/orgs/$org/keys" \
    -H "authorization: Bearer $token" -H 'content-type: application/json' \
    -d "{\"name\":\"$1\",\"role\":\"viewer\"}")
  [ "$code" = 201 ] || [ "$code" = 200 ] && echo "$1" >>"$work/acked"
  [ "$code" -ge 500 ] && echo "$1" >>"$work/refused"
  echo "$code"
}
read_keys() { curl -s -o /dev/null -w '%{http_code}' "$base/v1/orgs/$org/keys" -H "authorization: Bearer $token"; }
tally() { sort | uniq -c | awk '{printf "%s×%s ", $1, $2}'; }
: >"$work/acked"; : >"$work/refused"

dd if=/dev/zero of="$work/data/filler" bs=64k >/dev/null 2>&1 || true
echo "disk full ($(df -h "$work/data" | awk 'NR==2 {print $4}') left)"
echo "  writes: $(for i in $(seq "$writes"); do write_key "full-$i"; done | tally)"
echo "  reads:  $(for _ in $(seq "$writes"); do read_keys; echo; done | tally)"
echo "  readyz: $(curl -s -o /dev/null -w '%{http_code}' "$base/readyz")"
echo "  said:   $(curl -s -X POST "$base/v1/orgs/$org/keys" -H "authorization: Bearer $token" \
  -H 'content-type: application/json' -d '{"name":"probe","role":"viewer"}')"
rm "$work/data/filler"
freed=$(date +%s.%N)
until [ "$(write_key "after-0")" = 201 ]; do sleep 0.1; done
printf 'space freed: first write accepted after %.1f s, without a restart\n' \
  "$(echo "$(date +%s.%N) - $freed" | bc -l)"
echo "  writes: $(for i in $(seq "$writes"); do write_key "after-$i"; done | tally)"
curl -s "$base/v1/orgs/$org/keys?limit=1000" -H "authorization: Bearer $token" >"$work/listed"
python3 -I - "$work/listed" "$work/acked" "$work/refused" <<'PY'
import json, sys
listed = json.load(open(sys.argv[1]))
items = listed["items"] if isinstance(listed, dict) else listed
names = {k["name"] for k in items}
acked = set(open(sys.argv[2]).read().split())
refused = set(open(sys.argv[3]).read().split())
print(f"acknowledged {len(acked)}, lost {len(acked - names)}; refused {len(refused)}, "
      f"stored anyway {len(refused & names)}")
PY
kill "$server"; wait "$server" 2>/dev/null || true; server=""
python3 -I -c 'import sqlite3,sys; print("integrity:", sqlite3.connect(sys.argv[1]).execute("pragma integrity_check").fetchone()[0])' "$work/data/scry.db"
