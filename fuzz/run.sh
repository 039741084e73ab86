#!/usr/bin/env bash
# Coverage-guided fuzzing with libFuzzer on the stable toolchain: builds the targets in
# fuzz_targets/ with the coverage passes cargo-fuzz would add, then runs each for SECONDS,
# starting from its checked-in corpus (fuzz/corpus/TARGET: seeds and every input that once
# failed). New inputs go to fuzz/target/corpus/TARGET; a failure leaves its input in
# fuzz/target/artifacts/TARGET and the script exits non-zero.
#   fuzz/run.sh [SECONDS] [TARGET…]     (default: 10 s each, every target)
# `fuzz/run.sh 0` only replays the checked-in corpora.
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-10}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(chunk model config sync_objects mirror lsp_frames server)
triple=$(rustc -vV | sed -n 's/^host: //p')
export RUSTFLAGS="${RUSTFLAGS:-} -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
  -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
  -Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing"
# --target keeps the flags off build scripts and proc macros, as cargo-fuzz does.
cargo build --release --locked --target "$triple" --bins >&2
failed=()
for t in "${targets[@]}"; do
  work=target/corpus/$t
  artifacts=target/artifacts/$t/
  mkdir -p "$work" "$artifacts" "corpus/$t"
  args=(-rss_limit_mb=4096 -timeout=20 -max_len=65536 -artifact_prefix="$artifacts" -print_final_stats=1)
  if [ "$seconds" = 0 ]; then args+=(-runs=0); else args+=(-max_total_time="$seconds"); fi
  log=target/$t.log
  if "target/$triple/release/$t" "${args[@]}" "$work" "corpus/$t" >"$log" 2>&1; then
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
    echo "$t: ok, $execs runs, ${cov:-cov: ?}, corpus $(ls "$work" | wc -l) + $(ls "corpus/$t" | wc -l) seeds"
  else
    echo "$t: FAILED (log: fuzz/$log, input: fuzz/$artifacts)"
    tail -40 "$log" >&2
    failed+=("$t")
  fi
done
[ ${#failed[@]} -eq 0 ]
