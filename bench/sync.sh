#!/usr/bin/env bash
# Index sync over loopback, SQLite: a first sync of the Python standard library (objects,
# sealed bytes, seconds), syncs after a one-function edit, a no-op sync, and what the service
# stores per chunk. `scry sync` brings the index up to date first; `scry index` on the same
# unchanged tree is timed beside it, so the sync's own share shows.
#   bench/sync.sh [SCRY] [SCRY_SERVER]      (default: target/release/…)
#   SRC=/path/to/tree bench/sync.sh         syncs another tree (its first .py file with a
#                                           top-level function is edited)
set -euo pipefail
cd "$(dirname "$0")/.."
scry=$(realpath "${1:-target/release/scry}")
server_bin=$(realpath "${2:-target/release/scry-server}")
work=$(mktemp -d)
cleanup() {
  [ -s "$work/errors" ] && tail -c 2000 "$work/errors" >&2
  [ -n "${server:-}" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

src=${SRC:-$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["stdlib"])')}
mkdir -p "$work/tree"
tar -C "$src" --exclude=site-packages --exclude=__pycache__ -cf - . | tar -C "$work/tree" -xf -

source bench/loopback-server.sh
export SCRY_INDEX_DIR=$work/index
cd "$work/tree"
"$scry" index . 2>/dev/null
"$scry" sync enable --repo bench 2>/dev/null
chunks_local=$("$scry" status | awk '/^chunks:/ {print $2}')

first=$(seconds "$scry" sync --json 2>"$work/t")
echo "first sync: $first in $(cat "$work/t") s (index chunks: $chunks_local)"
rss=$(ps -o rss= -p "$server")

# One function edited, five times (a different line each time); medians.
file=$(grep -rl --include='*.py' '^def ' . | sort | head -1)
# Adds a line to the file's first function.
edit() {
  python3 -I - "$file" "$1" <<'EOF'
import re, sys
path, n = sys.argv[1], sys.argv[2]
text = open(path).read()
m = re.search(r"^def \w+\(.*\):\n", text, re.M)
text = text[: m.end()] + f"    _bench_edit = {n}\n" + text[m.end():]
open(path, "w").write(text)
EOF
}
edit_t=() noop_t=() index_t=() sent=()
for i in 1 2 3 4 5; do
  edit "$i"
  out=$(seconds "$scry" sync --json 2>"$work/t"); edit_t+=("$(cat "$work/t")")
  sent+=("$(echo "$out" | json '["objects_uploaded"]')/$(echo "$out" | json '["bytes_uploaded"]')")
  seconds "$scry" sync --json >/dev/null 2>"$work/t"; noop_t+=("$(cat "$work/t")")
  seconds "$scry" index . >/dev/null 2>"$work/t"; index_t+=("$(cat "$work/t")")
done
echo "edit sync: median $(median "${edit_t[@]}") s; objects/bytes sent: ${sent[*]}"
echo "no-op sync: median $(median "${noop_t[@]}") s; no-op scry index: median $(median "${index_t[@]}") s"

# The same without the tree kept from the last sync: the whole index is read and planned, as
# every sync did before the tree was kept.
full_t=() full_noop_t=()
for i in 6 7 8 9 10; do
  edit "$i"
  find "$work/index" -name sync-tree.bin -delete
  seconds "$scry" sync --json >/dev/null 2>"$work/t"; full_t+=("$(cat "$work/t")")
  find "$work/index" -name sync-tree.bin -delete
  seconds "$scry" sync --json >/dev/null 2>"$work/t"; full_noop_t+=("$(cat "$work/t")")
done
echo "without the kept tree: edit sync median $(median "${full_t[@]}") s; no-op sync median $(median "${full_noop_t[@]}") s"

db=$work/data/scry-server.db
sqlite3 "$db" "PRAGMA wal_checkpoint(TRUNCATE);" >/dev/null
read -r objects body chunks <<<"$(sqlite3 -separator ' ' "$db" \
  "SELECT COUNT(*), SUM(LENGTH(body)), SUM(chunks) FROM index_objects")"
size=$(stat -c %s "$db")
echo "stored: $objects objects ($chunks chunk records, live or not), sealed bodies $body B = $((body / chunks)) B/chunk; database file $size B = $((size / chunks)) B/chunk (with older generations' objects kept a day)"
echo "server RSS after the first sync: $((rss / 1024)) MB"
