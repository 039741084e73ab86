#!/usr/bin/env bash
# Scale figures on the Linux kernel (Debian's linux-source-6.1: ~70,000 files, 1.35 million
# chunks), with the built-in model: cold index (wall time, peak RSS), no-op re-index, index size
# per chunk, search latency and the searcher's RSS, a CLI search end to end, then the language
# server on a copy of the tree (cold index, a changed file → searchable, search round trip,
# idle RSS). Installs the kernel source with apt when it is missing. Takes ~20 minutes.
#   bench/scale.sh [SCRY_BINARY] [LSP_EDITS]        (LSP_EDITS=0 skips the server part)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p scry >/dev/null 2>&1
cargo build --release -p scry-core --example search_latency --example update_latency >/dev/null 2>&1
scry=$(realpath "${1:-target/release/scry}")
edits=${2:-10}
latency=$(realpath target/release/examples/search_latency)
update=$(realpath target/release/examples/update_latency)
tree=${KERNEL_TREE:-/tmp/kernel/linux-source-6.1}
if [ ! -d "$tree" ]; then
  if [ ! -f /usr/src/linux-source-6.1.tar.xz ]; then
    sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get install -y -q linux-source-6.1 >/dev/null
  fi
  mkdir -p "$(dirname "$tree")"
  tar -xJf /usr/src/linux-source-6.1.tar.xz -C "$(dirname "$tree")"
fi
# Debian's tarball ignores its own top level (`/*` in its .gitignore): the way past it that
# `scry index` suggests when that happens.
grep -qxF '!/*' "$tree/.scryignore" 2>/dev/null || echo '!/*' >> "$tree/.scryignore"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export SCRY_INDEX_DIR=$work/idx
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GB", $2/1e6}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "tree: $tree ($(du -sh --apparent-size "$tree" | cut -f1))"
/usr/bin/time -f '%e %M' -o "$work/cold.time" "$scry" index "$tree" >"$work/cold.out" 2>&1
read -r cold_s cold_kb <"$work/cold.time"
grep '^indexed' "$work/cold.out"
printf 'cold index: %.1f s, peak RSS %.0f MB\n' "$cold_s" "$(echo "$cold_kb / 1024" | bc -l)"
noop=()
for _ in 1 2 3; do
  /usr/bin/time -f '%e' -o "$work/noop.time" "$scry" index "$tree" >/dev/null 2>&1
  noop+=("$(cat "$work/noop.time")")
done
printf 'no-op re-index: median %s s of 3 (%s)\n' "$(printf '%s\n' "${noop[@]}" | median)" "${noop[*]}"
"$scry" status --path "$tree" >"$work/status"
chunks=$(awk '/^chunks:/ {print $2}' "$work/status")
bytes=$(stat -c %s "$(awk '/^index:/ {print $2}' "$work/status")")
printf 'index: %s chunks, %.0f MB on disk, %.0f bytes per chunk\n' "$chunks" "$(echo "$bytes / 1000000" | bc -l)" "$(echo "$bytes / $chunks" | bc -l)"
/usr/bin/time -f '%M' -o "$work/serve.time" "$latency" "$tree" bench/kernel-queries.txt >"$work/latency" 2>&1
printf 'search (in process, warm): %s\n' "$(cat "$work/latency")"
printf 'searcher peak RSS: %.0f MB\n' "$(echo "$(cat "$work/serve.time") / 1024" | bc -l)"
/usr/bin/time -f '%e %M' -o "$work/cli.time" "$scry" search "retry a failed transfer after a timeout" --path "$tree" >/dev/null 2>&1
read -r cli_s cli_kb <"$work/cli.time"
printf 'CLI search end to end (open, load, search): %s s, peak RSS %.0f MB\n' "$cli_s" "$(echo "$cli_kb / 1024" | bc -l)"
# One changed file → searchable, in process (update, changes, apply, search): typical files
# (the first C files of kernel/ and Python files by name) and the four largest sources.
# (`sed -n` rather than `head`: it reads to the end, so no SIGPIPE trips pipefail.)
typical=$(cd "$tree" && { find kernel -maxdepth 1 -name '*.c' | sort | sed -n 1,6p; find . -name '*.py' | sed 's|^\./||' | sort | sed -n 1,6p; })
# shellcheck disable=SC2086
printf 'changed file → searchable, typical files: %s\n' "$("$update" "$tree" $typical 12)"
printf 'changed file → searchable, largest files: %s\n' "$("$update" "$tree" kernel/sched/core.c mm/page_alloc.c fs/ext4/inode.c drivers/net/ethernet/intel/e1000/e1000_main.c 12)"
if [ "$edits" -gt 0 ]; then
  python3 bench/lsp_latency.py "$scry" "$tree" bench/kernel-queries.txt "$edits"
fi
