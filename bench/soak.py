#!/usr/bin/env python3
"""A soak of `scry lsp`: for MINUTES a generator edits and saves files, adds and deletes files,
switches between two Git branches (committing its work first) and searches, in a Git
repository made from a copy of TREE. Every SAMPLE seconds it records the server's RSS, open
descriptors and threads, and the `scry/search` latencies since the last sample. At the end,
once the server is ready, every function the generator left in the tree must be found at its
file and none it removed may be (a miss either way is a missed update), and the server's file
and chunk counts must equal a fresh `scry index` of the final tree.

    bench/soak.py SCRY_BINARY [TREE] [MINUTES] [SAMPLE_SECONDS] [QUERIES]
(default TREE: the evaluation's stdlib copy; QUERIES: a query a line, plain or a JSON object with
"query".) The generator writes Python or C, whichever of the two the tree holds more of.
"""

import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lsp_latency import Server, pct, rss_mb  # noqa: E402

SWITCH_EVERY = 60
EDITED_FILES = 200
# What the generator writes, per language: a function appended to a file, a new file's text.
WRITES = {
    ".py": ("\n\ndef {name}(value):\n    return value + {n}\n",
            "def {name}(items):\n    return sorted(items)[:{n}]\n"),
    ".c": ("\n\nint {name}(int value)\n{{\n\treturn value + {n};\n}}\n",
           "int {name}(const int *items)\n{{\n\treturn items[{n}];\n}}\n"),
}


def git(root, *args):
    subprocess.run(["git", "-C", root, *args], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def count(path):
    return len(os.listdir(path))


def threads(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("Threads:"))


def wait_ready(server):
    while True:
        status = server.request("scry/status", None)
        if all(w["state"] == "ready" for w in status["workspaces"]):
            return status["workspaces"][0]
        time.sleep(0.2)


def main():
    binary = os.path.realpath(sys.argv[1])
    tree = sys.argv[2] if len(sys.argv) > 2 else "/tmp/scry-eval/stdlib/corpus"
    minutes = float(sys.argv[3]) if len(sys.argv) > 3 else 30
    sample = float(sys.argv[4]) if len(sys.argv) > 4 else 30
    queries_file = sys.argv[5] if len(sys.argv) > 5 else "/tmp/scry-eval/stdlib/queries.jsonl"
    queries = [json.loads(l)["query"] if l.startswith("{") else l.strip()
               for l in open(queries_file) if l.strip()]
    rng = random.Random(7)
    work = tempfile.mkdtemp()
    root = os.path.join(work, "ws")
    shutil.copytree(tree, root)
    git(root, "init", "-q", "-b", "main")
    # Everything is committed, ignored files too (Debian's kernel source ignores its whole top
    # level): a branch switch must change the files it edited.
    git(root, "-c", "user.name=soak", "-c", "user.email=soak@example.com", "add", "-A", "--force")
    commit = lambda message: git(root, "-c", "user.name=soak", "-c", "user.email=soak@example.com",
                                 "commit", "-q", "--allow-empty", "-am", message)
    commit("base")
    files = [os.path.relpath(os.path.join(d, f), root)
             for d, _, fs in os.walk(root) if ".git" not in d for f in fs]
    ext = max(WRITES, key=lambda e: sum(f.endswith(e) for f in files))
    append_text, new_text = WRITES[ext]
    sources = sorted(f for f in files if f.endswith(ext))
    edited = rng.sample(sources, min(EDITED_FILES, len(sources)))
    # Functions the generator put on each branch: name -> file.
    placed = {"main": {}, "other": {}}
    gone = set()
    git(root, "branch", "other")

    server = Server(binary, root, os.path.join(work, "idx"))
    t0 = time.monotonic()
    wait_ready(server)
    print(f"tree {tree}: {len(files)} files, {len(sources)} {ext}; cold index through the server "
          f"{time.monotonic() - t0:.1f} s")
    pid = server.proc.pid
    latencies, samples = [], []
    lock = threading.Lock()
    stop = threading.Event()
    started = time.monotonic()

    def sampler():
        while not stop.wait(sample):
            with lock:
                taken = latencies[:]
                latencies.clear()
            samples.append((time.monotonic() - started, rss_mb(pid), count(f"/proc/{pid}/fd"),
                            threads(pid), taken))

    threading.Thread(target=sampler, daemon=True).start()
    branch, n, last_switch = "main", 0, time.monotonic()
    while time.monotonic() - started < minutes * 60:
        n += 1
        action = rng.random()
        here = placed[branch]
        if action < 0.4:
            rel = rng.choice(edited)
            with open(os.path.join(root, rel), "a") as f:
                f.write(append_text.format(name=f"soak_edit_{n}", n=n))
            here[f"soak_edit_{n}"] = rel
        elif action < 0.5:
            rel = f"soak/new_{n}{ext}"
            os.makedirs(os.path.join(root, "soak"), exist_ok=True)
            with open(os.path.join(root, rel), "w") as f:
                f.write(new_text.format(name=f"soak_new_{n}", n=n))
            here[f"soak_new_{n}"] = rel
        elif action < 0.6:
            made = [name for name, rel in here.items() if rel.startswith("soak/")]
            if made:
                name = rng.choice(made)
                os.remove(os.path.join(root, here.pop(name)))
                gone.add(name)
        else:
            t = time.monotonic()
            server.search(rng.choice(queries), 10)
            with lock:
                latencies.append((time.monotonic() - t) * 1000)
        if time.monotonic() - last_switch > SWITCH_EVERY:
            git(root, "add", "-A", "--force")
            commit(f"soak {n}")
            branch = "other" if branch == "main" else "main"
            git(root, "checkout", "-q", branch)
            last_switch = time.monotonic()
        time.sleep(0.1)
    stop.set()

    status = wait_ready(server)
    here = placed[branch]
    elsewhere = {name for b, names in placed.items() if b != branch for name in names} - set(here)
    # Each name the generator wrote, asked of the live index and of a fresh index of the final
    # tree (chunks, not files: a file it appended to holds many such functions): where each
    # finds a chunk of that name. A difference is a missed update. (A present function can be
    # missing from both when the chunker merged it into its neighbour's chunk.)
    names = sorted(set(here) | gone | elsewhere)
    live = [{(h["symbol"], h["path"]) for h in server.request(
        "scry/search", {"query": name, "limit": 10, "chunks": True})} for name in names]
    fresh_dir = os.path.join(work, "fresh")
    env = dict(os.environ, SCRY_INDEX_DIR=fresh_dir)
    subprocess.run([binary, "index", root], env=env, check=True, capture_output=True)
    fresh = json.loads(subprocess.run([binary, "status", "--json", "--path", root], env=env,
                                      check=True, capture_output=True).stdout)
    with open(os.path.join(work, "names"), "w") as f:
        f.write("\n".join(names) + "\n")
    answered = subprocess.run(
        [binary, "search", "--json", "--chunks", "--limit", "10", "--path", root,
         "--queries", os.path.join(work, "names")], env=env, check=True, capture_output=True)
    anew = [{(h["symbol"], h["path"]) for h in json.loads(line)["results"]}
            for line in answered.stdout.splitlines()]
    has = lambda name, found: {p for s, p in found if s == name}
    differ = sum(has(n, a) != has(n, b) for n, a, b in zip(names, live, anew))
    missed = sum(here[n] not in has(n, a) for n, a in zip(names, live) if n in here)
    stale = sum(bool(has(n, a)) for n, a in zip(names, live) if n not in here)
    server.stop()

    print(f"{n} steps over {minutes:g} min, a branch switch every {SWITCH_EVERY} s")
    print("| minute | RSS MB | descriptors | threads | searches | p50 ms | p99 ms |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for at, rss, fds, nthreads, taken in samples:
        p50 = f"{pct(taken, 50):.1f}" if taken else "-"
        p99 = f"{pct(taken, 99):.1f}" if taken else "-"
        print(f"| {at / 60:.1f} | {rss:.0f} | {fds} | {nthreads} | {len(taken)} | {p50} | {p99} |")
    first = [x for at, *_, taken in samples if at <= 300 for x in taken]
    last = [x for at, *_, taken in samples if at > minutes * 60 - 300 for x in taken]
    if first and last:
        print(f"search p50/p99: first 5 min {pct(first, 50):.1f}/{pct(first, 99):.1f} ms, "
              f"last 5 min {pct(last, 50):.1f}/{pct(last, 99):.1f} ms")
    print(f"functions checked: {len(here)} present, {len(names) - len(here)} absent; "
          f"live index unlike a fresh one: {differ} (missed updates); "
          f"present but not found: {missed}, absent but found: {stale}")
    print(f"server: {status['files']} files, {status['chunks']} chunks; fresh index: "
          f"{fresh['files']} files, {fresh['chunks']} chunks")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
