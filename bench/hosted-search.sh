#!/usr/bin/env bash
# Hosted search over loopback, SQLite: every repository of the whole-repository dev set
# (bench/wholerepo.sh, fetched there first) is synced to one org with hosted search on (an
# admin key); then `POST /v1/orgs/{org}/search`
#   1. the first question over the whole org (the replica writes out and indexes every
#      repository's published code), then each question of the set restricted to its own
#      repository, one request each: latency median and p90;
#   2. an edit to one file, synced: the next question's latency (the shard catches up);
#   3. those answers scored by the eval kit's scorer beside the local `scry search` of each
#      checkout (the same engine on the same code should score the same), and their top-10
#      paths compared question by question;
#   4. load: every question again from CLIENTS threads at once, for ROUNDS rounds: throughput
#      and latency p50/p99.
#   BACKEND=postgres runs the service on a throwaway PostgreSQL cluster instead of SQLite.
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
server_args=()
if [ "${BACKEND:-sqlite}" = postgres ]; then
  pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  as_pg=""
  [ "$(id -u)" = 0 ] && as_pg="runuser -u postgres --"
  pgdata=$work/pg
  mkdir -p "$pgdata" && chmod 755 "$work" && [ -n "$as_pg" ] && chown postgres: "$pgdata"
  pgport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  $as_pg "$pgbin/initdb" -D "$pgdata" -U postgres --auth=trust -E UTF8 >/dev/null
  $as_pg "$pgbin/pg_ctl" -D "$pgdata" -l "$pgdata/log" -w \
    -o "-p $pgport -k $pgdata -c listen_addresses=127.0.0.1" start >/dev/null
  server_args=(--database-url "postgres://postgres@127.0.0.1:$pgport/postgres"
    --secrets-key "$(python3 -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())')")
  trap 'cleanup; $as_pg "$pgbin/pg_ctl" -D "$pgdata" -m immediate stop >/dev/null 2>&1 || true' EXIT
fi
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
import json, os, subprocess, sys, time, urllib.request
args = sys.argv[1:]
if args[0] == "index":
    sys.exit(0)
path = os.path.realpath(args[args.index("--path") + 1])
limit = int(args[args.index("--limit") + 1])
queries = open(args[args.index("--queries") + 1], encoding="utf-8").read().splitlines()
repo = next(l.split(" ", 1)[0] for l in open("$work/repos") if l.rstrip("\n").split(" ", 1)[1] == path)
# The same questions asked of local search in the checkout, to compare the top 10 with.
local = subprocess.run(["$scry", *args], capture_output=True, text=True, check=True)
local = [json.loads(l)["results"] for l in local.stdout.splitlines() if l.startswith("{")]
place = lambda r: (r["path"], r["start_line"], r["end_line"])
same = 0
with open("$work/latency", "a") as lat:
    for q, mine in zip(queries, local):
        body = json.dumps({"query": q, "repos": [repo], "limit": limit}).encode()
        req = urllib.request.Request("$base/v1/orgs/$org/search", body, {"Authorization": "Bearer $key", "Content-Type": "application/json"})
        t = time.perf_counter()
        answer = json.load(urllib.request.urlopen(req))
        lat.write(f"{time.perf_counter() - t}\n")
        same += [place(r) for r in answer["results"]] == [place(r) for r in mine]
        print(json.dumps({"query": q, "results": answer["results"]}))
open("$work/same", "a").write(f"{same} {len(queries)}\n")
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
read -r same asked < <(awk '{ s += $1; n += $2 } END { print s, n }' "$work/same")
echo "top-10 (path and lines, in order) identical to local search for $same of $asked questions"
python3 -I - "$work/latency" <<'PY'
import statistics, sys
xs = sorted(float(l) for l in open(sys.argv[1]))
print(f"{len(xs)} questions, one request each: median {statistics.median(xs)*1000:.1f} ms, "
      f"p90 {xs[int(len(xs)*0.9)]*1000:.1f} ms")
PY

# Load: all the questions from CLIENTS threads at once, ROUNDS times over.
python3 -I - "$work/repos" "$base" "$org" "$key" "${CLIENTS:-8}" "${ROUNDS:-20}" <<'PY'
import concurrent.futures, json, statistics, sys, time, urllib.request
repos, base, org, key, clients, rounds = sys.argv[1:7]
names = [l.split(" ", 1)[0] for l in open(repos)]
qs = ["parse the command line arguments", "render a template", "retry a failed request",
      "serialize a value to json", "read the configuration file", "spawn a task on the runtime"]
work = [(q, n) for n in names for q in qs] * int(rounds)
def ask(item):
    q, repo = item
    body = json.dumps({"query": q, "repos": [repo], "limit": 10}).encode()
    req = urllib.request.Request(f"{base}/v1/orgs/{org}/search", body,
                                 {"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    t = time.perf_counter()
    urllib.request.urlopen(req).read()
    return time.perf_counter() - t
t = time.perf_counter()
with concurrent.futures.ThreadPoolExecutor(int(clients)) as pool:
    lat = sorted(pool.map(ask, work))
wall = time.perf_counter() - t
print(f"load: {len(lat)} searches from {clients} clients in {wall:.1f} s: {len(lat)/wall:.0f}/s, "
      f"p50 {statistics.median(lat)*1000:.1f} ms, p99 {lat[int(len(lat)*0.99)]*1000:.1f} ms")
PY
echo "usage: $(curl -sf "$base/v1/orgs/$org/usage" -H "authorization: Bearer $token" | json '[0]["searches"]') searches metered"

# An edit synced: the next question waits for that file alone to be written and indexed.
read -r name dir <"$work/repos"
file=$(cd "$dir" && find . -name '*.py' | sort | head -1)
cp "$dir/$file" "$work/kept"
printf '\ndef hosted_search_bench_marker():\n    return 42\n' >>"$dir/$file"
(cd "$dir" && "$scry" sync --json >/dev/null 2>>"$work/errors")
echo "after one edited file is synced, the next question: $(ask '{"query": "hosted_search_bench_marker"}') s"
cp "$work/kept" "$dir/$file"
echo "server peak RSS: $(($(grep VmHWM /proc/$server/status | awk '{print $2}') / 1024)) MB"
