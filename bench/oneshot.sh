#!/usr/bin/env bash
# One-shot `scry search --json` on an indexed tree, one process per query (as scripts and
# tools call it): wall time and peak RSS, median over the queries, with no live index, then
# with `scry watch` holding the folder (the command asks its live index), beside `rg -l` of
# the query's last two words on the same tree. Indexes the tree first if it is not.
#   bench/oneshot.sh [SCRY_BINARY] [TREE] [QUERIES]
# (default tree: the kernel as bench/scale.sh unpacks it; SCRY_INDEX_DIR keeps its index.)
set -euo pipefail
cd "$(dirname "$0")/.."
scry=$(realpath "${1:-target/release/scry}")
tree=$(realpath "${2:-/tmp/kernel/linux-source-6.1}")
queries=$(realpath "${3:-bench/kernel-queries.txt}")
work=$(mktemp -d)
watcher=""
trap '[ -n "$watcher" ] && kill "$watcher" 2>/dev/null; rm -rf "$work"' EXIT
export SCRY_INDEX_DIR=${SCRY_INDEX_DIR:-$work/idx}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
"$scry" index "$tree" >/dev/null 2>&1

# Prints "median wall s, median peak MB" of one process per query.
one_shot() {
  : >"$work/times"
  while IFS= read -r q; do
    /usr/bin/time -f '%e %M' -a -o "$work/times" "$@" "$q" >/dev/null 2>&1
  done <"$queries"
  printf '%s s, %s MB' "$(cut -d' ' -f1 "$work/times" | median)" \
    "$(cut -d' ' -f2 "$work/times" | median | awk '{printf "%.0f", $1/1024}')"
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "tree: $tree, $(wc -l <"$queries") queries"
echo "scry search, no live index:  $(one_shot "$scry" search --json --limit 10 --path "$tree")"
"$scry" watch "$tree" >"$work/watch" 2>&1 &
watcher=$!
until grep -q '^ready' "$work/watch"; do sleep 0.2; done
echo "scry search, live index:     $(one_shot "$scry" search --json --limit 10 --path "$tree")"
kill "$watcher"; watcher=""
if command -v rg >/dev/null; then
  rg_words() { rg -l "$(echo "$1" | awk '{print $(NF-1), $NF}')" "$tree"; }
  export -f rg_words
  export tree
  echo "rg -l (two words):           $(one_shot bash -c 'rg_words "$0"')"
fi
