#!/usr/bin/env bash
# Hosted search over loopback, SQLite: every repository of the whole-repository dev set
# (bench/wholerepo.sh, fetched there first) is synced to one org with hosted search on (an
# admin key); then `POST /v1/orgs/{org}/search`
#   1. the first question over the whole org (the replica writes out and indexes every
#      repository's published code), then each question of the set restricted to its own
#      repository, one request each: latency median and p90;
#   2. an edit to one file, synced: the next question's latency (the shard catches up);
#   3. those answers scored by the eval kit's scorer beside the local `scry search` of each
#      checkout (the same engine on the same code should score the same).
#   bench/hosted-search.sh [SCRY] [SCRY_SERVER]
set -euo pipefail
cd "$(dirname "$0")/.."
scry=$(realpath "${1:-target/release/scry}")
server_bin=$(realpath "${2:-target/release/scry-server}")
eval_dir=${EVAL_SCRIPTS:-$(realpath ../shared/eval)}
D=${DEV_DIR:-/tmp/scry-dev}/wholerepo
[ -d "$D/repos" ] || bench/wholerepo.sh "$scry" >/dev/null
work=$(mktemp -d)
cleanup() {
  [ -s "$work/errors" ] && tail -c 2000 "$work/errors" >&2
  [ -n "${server:-}" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
source bench/loopback-server.sh
export SCRY_INDEX_DIR=$work/index
SCRY_API_KEY=$(post "/v1/orgs/$org/keys" "$token" '{"name":"admin","role":"admin"}' | json '["key"]')

python3 -I - bench/wholerepo/repos.json "$D/repos" >"$work/repos" <<'PY'
import json, os, sys
for r in json.load(open(sys.argv[1])):
    print(r["name"], os.path.realpath(os.path.join(sys.argv[2], r["name"], r["benchmark_root"])))
PY
sent=0
while read -r name dir; do
  (cd "$dir" && "$scry" sync enable --repo "$name" --hosted-search >/dev/null 2>&1 \
    && "$scry" sync --json >"$work/synced" 2>>"$work/errors")
  sent=$((sent + $(json '["hosted"]["bytes_uploaded"]' <"$work/synced")))
done <"$work/repos"
echo "synced $(wc -l <"$work/repos") repositories with hosted search: $((sent / 1024)) KiB of code sent"

# The scorer's tool contract, answered by the hosted API restricted to the asked folder's repo;
# each request's seconds go to $work/latency.
cat >"$work/hosted-tool" <<PY
#!/usr/bin/env python3
import json, os, sys, time, urllib.request
args = sys.argv[1:]
if args[0] == "index":
    sys.exit(0)
path = os.path.realpath(args[args.index("--path") + 1])
limit = int(args[args.index("--limit") + 1])
queries = open(args[args.index("--queries") + 1], encoding="utf-8").read().splitlines()
repo = next(l.split(" ", 1)[0] for l in open("$work/repos") if l.rstrip("\n").split(" ", 1)[1] == path)
with open("$work/latency", "a") as lat:
    for q in queries:
        body = json.dumps({"query": q, "repos": [repo], "limit": limit}).encode()
        req = urllib.request.Request("$base/v1/orgs/$org/search", body, {"Authorization": "Bearer $key", "Content-Type": "application/json"})
        t = time.perf_counter()
        answer = json.load(urllib.request.urlopen(req))
        lat.write(f"{time.perf_counter() - t}\n")
        print(json.dumps({"query": q, "results": answer["results"]}))
PY
chmod +x "$work/hosted-tool"
ask() {
  curl -sf -o /dev/null -w '%{time_total}' -X POST "$base/v1/orgs/$org/search" \
    -H "authorization: Bearer $key" -H 'content-type: application/json' -d "$1"
}
echo "first question, whole org (every shard written and indexed): $(ask '{"query": "parse the command line arguments"}') s"
echo "the same again: $(ask '{"query": "parse the command line arguments"}') s"
for tool in "$scry" "$work/hosted-tool"; do
  python3 "$eval_dir/wholerepo/run.py" --data bench/wholerepo --repos "$D/repos" --tool "$tool" \
    --no-index 2>&1 | grep -E '^(NDCG|by )' | sed "s|^|$(basename "$tool"): |"
done
python3 -I - "$work/latency" <<'PY'
import statistics, sys
xs = sorted(float(l) for l in open(sys.argv[1]))
print(f"{len(xs)} questions, one request each: median {statistics.median(xs)*1000:.1f} ms, "
      f"p90 {xs[int(len(xs)*0.9)]*1000:.1f} ms")
PY

# An edit synced: the next question waits for that file alone to be written and indexed.
read -r name dir <"$work/repos"
file=$(cd "$dir" && find . -name '*.py' | sort | head -1)
cp "$dir/$file" "$work/kept"
printf '\ndef hosted_search_bench_marker():\n    return 42\n' >>"$dir/$file"
(cd "$dir" && "$scry" sync --json >/dev/null 2>>"$work/errors")
echo "after one edited file is synced, the next question: $(ask '{"query": "hosted_search_bench_marker"}') s"
cp "$work/kept" "$dir/$file"
echo "server peak RSS: $(($(grep VmHWM /proc/$server/status | awk '{print $2}') / 1024)) MB"
