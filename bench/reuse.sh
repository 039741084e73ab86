#!/usr/bin/env bash
# Team reuse over loopback, SQLite: a teammate indexes a tree cold and syncs it; a clone of the
# same tree with 1% of its code files edited is linked to the same repository and indexed,
# starting from the teammate's generation; a third copy of the edited tree is indexed cold
# (`--no-reuse`), in the same run. Prints each time, the bytes fetched, the chunks reused and
# embedded, the time to the first search, and whether the reused index answers every query
# exactly as the cold one does.
#   bench/reuse.sh [SCRY] [SCRY_SERVER]     (default: target/release/…; the Python stdlib)
#   SRC=/path/to/tree QUERIES=file bench/reuse.sh …
#   SCRY_LOG=scry_core=debug KEEP_LOG=file …   keeps the clone's index log (stage timings)
set -euo pipefail
cd "$(dirname "$0")/.."
scry=$(realpath "${1:-target/release/scry}")
server_bin=$(realpath "${2:-target/release/scry-server}")
queries=$(realpath "${QUERIES:-bench/kernel-queries.txt}")
work=$(mktemp -d)
cleanup() {
  [ -s "$work/errors" ] && tail -c 2000 "$work/errors" >&2
  [ -n "${server:-}" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

src=${SRC:-$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["stdlib"])')}
for copy in theirs ours cold; do
  mkdir -p "$work/$copy"
  tar -C "$src" --exclude=site-packages --exclude=__pycache__ -cf - . | tar -C "$work/$copy" -xf -
done
# Appends a comment line to every STEP-th code file (in path order) of each ROOT, with TAG.
mark() {
  python3 -I - "$@" <<'PY'
import os, sys
comment = {".py": "#", ".c": "//", ".h": "//", ".rs": "//", ".go": "//", ".js": "//", ".ts": "//"}
step, tag, roots = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
files = sorted(
    os.path.relpath(os.path.join(d, f), roots[0])
    for d, _, names in os.walk(roots[0]) for f in names
    if os.path.splitext(f)[1] in comment
)
picked = files[::step]
for rel in picked:
    for root in roots:
        with open(os.path.join(root, rel), "a") as f:
            f.write(f"\n{comment[os.path.splitext(rel)[1]]} {tag}: scry bench\n")
print(f"{len(picked)} of {len(files)}")
PY
}
edited=$(mark 100 "edited after the teammate synced" "$work/ours" "$work/cold")
echo "edited: $edited code files"

source bench/loopback-server.sh
index_dir() { echo "$work/index-$1"; }
run() { local copy=$1; shift; (cd "$work/$copy" && SCRY_INDEX_DIR=$(index_dir "$copy") "$@"); }
status_json() { run "$1" "$scry" status --json; }

run theirs seconds "$scry" index . >/dev/null 2>"$work/t"
echo "teammate: cold index $(cat "$work/t") s"
run theirs "$scry" sync enable --repo bench 2>/dev/null
run theirs seconds "$scry" sync --json >/dev/null 2>"$work/t"
echo "teammate: first sync $(cat "$work/t") s"

run ours "$scry" sync enable --repo bench 2>/dev/null
/usr/bin/time -f "%M" -o "$work/rss" bash -c "cd '$work/ours' && SCRY_INDEX_DIR='$(index_dir ours)' \
  python3 -I -c 'import sys,time,subprocess; t=time.monotonic(); r=subprocess.run(sys.argv[1:], stderr=subprocess.PIPE); open(\"$work/said\", \"wb\").write(r.stderr); sys.stderr.write(f\"{time.monotonic()-t:.3f}\n\")' '$scry' index ." 2>"$work/t"
reuse_t=$(tail -1 "$work/t")
[ -n "${KEEP_LOG:-}" ] && cp "$work/said" "$KEEP_LOG"
said=$(grep '^reused' "$work/said" || cat "$work/said")
first_search=$(run ours seconds "$scry" search --json --limit 10 "allocate pages" 2>&1 >/dev/null)
echo "clone: index starting from the teammate's $reuse_t s (peak RSS $(( $(cat "$work/rss") / 1024 )) MB), then a first search $first_search s"
echo "  $said"
echo "  status: $(status_json ours | json '["reused"]') reused, $(status_json ours | json '["embedded"]') embedded"

run cold seconds "$scry" index --no-reuse . >/dev/null 2>"$work/t"
echo "cold index of the same edited tree: $(cat "$work/t") s"

same=0 total=0
while IFS= read -r query; do
  [ -z "$query" ] && continue
  a=$(run ours "$scry" search --json --limit 10 "$query")
  b=$(run cold "$scry" search --json --limit 10 "$query")
  total=$((total + 1))
  [ "$a" = "$b" ] && same=$((same + 1))
done <"$queries"
for k in files chunks vectors; do
  [ "$(status_json ours | json "[\"$k\"]")" = "$(status_json cold | json "[\"$k\"]")" ] || echo "  $k differ"
done
echo "identical top-10 (paths, lines, scores) to the cold index: $same of $total queries"

# A branch switch: the teammate's branch rewrites every 4th code file and is synced; the clone
# checks it out (the same files, and a .git/HEAD naming it) and updates, beside the cold copy
# doing the same switch without reuse.
for copy in theirs ours cold; do mkdir -p "$work/$copy/.git"; echo "ref: refs/heads/feature" >"$work/$copy/.git/HEAD"; done
switched=$(mark 4 "on the feature branch" "$work/theirs" "$work/ours" "$work/cold")
run theirs "$scry" sync --json >/dev/null 2>&1
run ours seconds "$scry" index . >/dev/null 2>"$work/t"
echo "branch switch ($switched code files changed): $(tail -1 "$work/t") s with reuse ($(status_json ours | json '["reused"]') reused, $(status_json ours | json '["embedded"]') embedded)"
run cold seconds "$scry" index --no-reuse . >/dev/null 2>"$work/t"
echo "  the same switch without reuse: $(tail -1 "$work/t") s"
