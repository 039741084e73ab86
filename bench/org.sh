#!/usr/bin/env bash
# Org-wide search over loopback, SQLite: every repository of the whole-repository dev set
# (bench/wholerepo.sh, fetched there first) is indexed and synced to one org as its own
# repository; then from one checkout, `scry search --org`
#   1. over the whole org: one question while it fetches and decrypts every generation, one
#      once they are current, then all the set's questions in one process (their difference is
#      the warm cost per question); peak RSS, the mirror's size on disk;
#   2. restricted to each question's repository (`--repo`), scored by the eval kit's scorer
#      beside the local search of that checkout (the mirror holds no code: what does it cost?).
#   EXTRA="DIR…" syncs more checkouts into the org (scale only).
#   With SNIPPETS=1 the org has sealed snippets on (its syncs carry the chunks' code, sealed).
#   bench/org.sh [SCRY] [SCRY_SERVER]
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
[ "${SNIPPETS:-0}" = 1 ] && post "/v1/orgs/$org/sealed-snippets" "$token" '{"enabled":true}' PUT >/dev/null

# name, folder: one line each.
python3 -I - bench/wholerepo/repos.json "$D/repos" >"$work/repos" <<'PY'
import json, os, sys
for r in json.load(open(sys.argv[1])):
    print(r["name"], os.path.realpath(os.path.join(sys.argv[2], r["name"], r["benchmark_root"])))
PY
# EXTRA="DIR…": more checkouts to sync into the org (scale only: they have no questions).
for dir in ${EXTRA:-}; do
  echo "$(basename "$dir") $(realpath "$dir")" >>"$work/extra"
done
while read -r name dir; do
  (cd "$dir" && "$scry" sync enable --repo "$name" >/dev/null 2>&1 && "$scry" sync --json >/dev/null 2>>"$work/errors")
done < <(cat "$work/repos" "$work/extra" 2>/dev/null)
echo "synced $(cat "$work/repos" "$work/extra" 2>/dev/null | wc -l) repositories"

# The whole org from one checkout: all questions, one process; first fetch, then current.
cat bench/wholerepo/annotations/*.json | python3 -I -c '
import json, sys
text = sys.stdin.read().replace("][", ",")
print("\n".join(q["query"] for q in json.loads(text)))' >"$work/questions"
first=$(head -1 "$work/repos" | cut -d' ' -f2-)
head -1 "$work/questions" >"$work/one"
for pass in "fetching:one" "current:one" "current:questions"; do
  /usr/bin/time -f "%e %M" -o "$work/time" bash -c "cd '$first' && '$scry' search --org --json \
    --limit 10 --queries '$work/${pass#*:}' >'$work/out' 2>'$work/said'"
  read -r wall rss <"$work/time"
  echo "${pass%:*}, $(wc -l <"$work/${pass#*:}") questions: ${wall} s, peak RSS $((rss / 1024)) MB; $(grep '^org' "$work/said" | cut -d: -f2-)"
done
echo "mirror: $(du -sh "$SCRY_INDEX_DIR/orgs" | cut -f1)"

# Warm, through the language server (it keeps the mirror between requests): every question over
# the whole org, one request each; latency and the server's memory.
python3 -I - "$first" "$SCRY_INDEX_DIR" "$scry" "$work/questions" <<'PY'
import os, sys, time
sys.path.insert(0, "bench")
from lsp_latency import Server, rss_mb, summary
root, index, scry, questions = sys.argv[1:5]
server = Server(scry, root, index)
ask = lambda q: server.request("scry/search", {"query": q, "limit": 10, "scope": "org"})
t = time.perf_counter()
ask("open the file")
print(f"language server, first org question (mirror loaded): {(time.perf_counter() - t) * 1000:.0f} ms")
ms = []
for q in open(questions).read().splitlines():
    t = time.perf_counter()
    ask(q)
    ms.append((time.perf_counter() - t) * 1000)
summary("language server, org, warm", ms)
print(f"language server RSS: {rss_mb(server.proc.pid):.0f} MB")
server.stop()
PY

# The scorer's tool contract, answered by org search restricted to the asked folder's repo.
cat >"$work/org-tool" <<SH
#!/usr/bin/env bash
[ "\$1" = index ] && exit 0
shift; args=(); dir=
while [ \$# -gt 0 ]; do
  case \$1 in --path) dir=\$2; shift 2 ;; *) args+=("\$1"); shift ;; esac
done
dir=\$(realpath "\$dir")
name=\$(awk -v d="\$dir" '\$2 == d { print \$1 }' "$work/repos")
cd "\$dir" && exec "$scry" search --org --repo "\$name" "\${args[@]}"
SH
chmod +x "$work/org-tool"
for tool in "$scry" "$work/org-tool"; do
  python3 "$eval_dir/wholerepo/run.py" --data bench/wholerepo --repos "$D/repos" --tool "$tool" \
    --no-index 2>&1 | grep -E '^(NDCG|by )' | sed "s|^|$(basename "$tool"): |"
done


# Each repository's questions asked of it alone: org search (`--repo`) against local search in
# its checkout, top 10 (path and lines, in order) compared question by question.
same=0; asked=0
while read -r name dir; do
  python3 -I -c 'import json, sys; print("\n".join(q["query"] for q in json.load(open(sys.argv[1]))))' \
    "bench/wholerepo/annotations/$name.json" >"$work/q"
  (cd "$dir" && "$scry" search --json --limit 10 --queries "$work/q" >"$work/local" 2>/dev/null \
    && "$scry" search --org --repo "$name" --json --limit 10 --queries "$work/q" >"$work/org" 2>/dev/null)
  read -r s n < <(python3 -I - "$work/local" "$work/org" <<'PY'
import json, sys
place = lambda r: (r["path"], r["start_line"], r["end_line"])
rows = [[[place(r) for r in json.loads(l)["results"]] for l in open(f) if l.startswith("{")] for f in sys.argv[1:]]
print(sum(a == b for a, b in zip(*rows)), len(rows[0]))
PY
)
  same=$((same + s)); asked=$((asked + n))
done <"$work/repos"
echo "top-10 of each repository's questions identical to local search: $same of $asked"
