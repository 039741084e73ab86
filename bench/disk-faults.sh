#!/usr/bin/env bash
# Disk faults for the index, on a real file system: the index lives on a tmpfs that runs full,
# then turns read-only, then comes back. Each step prints what `scry` said and whether the
# index is sound (`scry status --check`) once the cause is gone. Needs root (mount).
#   bench/disk-faults.sh [SCRY_BINARY] [WORKSPACE]     (default: target/release/scry, the stdlib)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
scry=${1:-$here/../target/release/scry}
src=${2:-$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["stdlib"])')/asyncio}
ws=$(mktemp -d)
cp -r "$src/." "$ws"
mnt=$(mktemp -d)
mount -t tmpfs -o size=1m tmpfs "$mnt" || { echo "cannot mount a tmpfs (root needed)" >&2; exit 1; }
trap 'umount "$mnt"; rmdir "$mnt"; rm -rf "$ws"' EXIT
export SCRY_INDEX_DIR=$mnt

step() {  # what, then the command: prints its exit status and last line
  local what=$1; shift
  local out rc
  out=$("$@" 2>&1); rc=$?
  printf '%-34s rc=%s  %s\n' "$what" "$rc" "$(tail -n 1 <<<"$out")"
}

step "index on a full 1 MiB disk" "$scry" index "$ws"
mount -o remount,size=64m "$mnt"
step "index after space returns" "$scry" index "$ws"
step "check" "$scry" status --check --path "$ws"
printf '\ndef probe_while_read_only():\n    return 1\n' >>"$(find "$ws" -name '*.py' | head -n 1)"
mount -o remount,ro "$mnt"
step "search on a read-only disk" "$scry" search --path "$ws" "run the event loop"
mount -o remount,rw "$mnt"
step "search after it is writable" "$scry" search --path "$ws" "run the event loop"
step "check" "$scry" status --check --path "$ws"
step "the edit made meanwhile is found" sh -c "'$scry' search --json --limit 1 --path '$ws' \
  probe_while_read_only | grep -o '\"symbol\":\"probe_while_read_only\"'"
