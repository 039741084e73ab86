#!/usr/bin/env bash
# Index throughput of a `scry` binary on a tree (default: the evaluation's stdlib copy):
# cold index and no-op re-index, each the median of N runs: lexical, the built-in model and,
# given a transformer model directory, with it (one cold run: it takes minutes).
#   bench/throughput.sh SCRY_BINARY [TREE] [MODEL_DIR] [RUNS]
set -euo pipefail
scry=$(realpath "$1")
tree=$(realpath "${2:-/tmp/scry-eval/stdlib/corpus}")
model=${3:-}
runs=${4:-3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
bytes=$(find "$tree" -type f \( -name '*.py' -o -name '*.rs' -o -name '*.c' -o -name '*.h' -o -name '*.js' -o -name '*.ts' -o -name '*.go' -o -name '*.md' \) -printf '%s\n' | awk '{s+=$1} END {print s}')
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
now() { date +%s.%N; }
measure() { # label, model-arg, runs
  local label=$1 model_arg=$2 n_runs=$3 cold=() noop=() chunks=0
  for i in $(seq "$n_runs"); do
    rm -rf "$work/idx"
    local t0; t0=$(now)
    SCRY_INDEX_DIR="$work/idx" "$scry" index $model_arg "$tree" 2>"$work/out"
    cold+=("$(echo "$(now) - $t0" | bc)")
    chunks=$(grep -o '[0-9]* chunks written' "$work/out" | grep -o '^[0-9]*')
    t0=$(now)
    SCRY_INDEX_DIR="$work/idx" "$scry" index $model_arg "$tree" 2>/dev/null
    noop+=("$(echo "$(now) - $t0" | bc)")
  done
  local c n
  c=$(printf '%s\n' "${cold[@]}" | median); n=$(printf '%s\n' "${noop[@]}" | median)
  printf '%-12s cold %7.2f s  %6.2f MB/s  %8.0f chunks/s  (%s chunks)   no-op %.3f s\n' \
    "$label" "$c" "$(echo "$bytes / $c / 1000000" | bc -l)" "$(echo "$chunks / $c" | bc -l)" "$chunks" "$n"
}
echo "tree: $tree ($(echo "$bytes / 1000000" | bc -l | xargs printf '%.1f') MB of source), $(nproc) cores"
measure lexical "--model none" "$runs"
measure builtin "--model builtin" "$runs"
[ -n "$model" ] && measure "$(basename "$model")" "--model $model" 1
exit 0
