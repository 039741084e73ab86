#!/usr/bin/env python3
"""`scry lsp` measured through the protocol, as an editor sees it.

On a copy of TREE (default: the evaluation's stdlib copy) it starts the server, waits for the
cold index, then measures:
  - change → searchable: a file on disk gains a function with a fresh name; the time until
    `scry/search` for that name returns it first (polled back to back), N edits; then N/2
    new files;
  - buffer → searchable: the same through didChange of an open, unsaved document;
  - `scry/search` round trip, warm, over the queries of QUERIES (one JSON object a line with a
    "query", or plain lines);
  - the server's RSS once idle, and its CPU time over 5 idle seconds;
  - `scry/search` round trip while a large update runs: BUSY source files (default 2,000)
    gain a line at once, as a pull or a branch switch would change them, and queries go back
    to back until the server is ready again.

  bench/lsp_latency.py SCRY_BINARY [TREE] [QUERIES] [EDITS] [BUSY]
"""

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import queue
import time


class Server:
    def __init__(self, binary, root, index_dir):
        env = dict(os.environ, SCRY_INDEX_DIR=index_dir)
        env.pop("SCRY_MODEL", None)
        self.proc = subprocess.Popen(
            [binary, "lsp"] + ([ "--log-file", os.environ["SCRY_BENCH_LOG"]] if os.environ.get("SCRY_BENCH_LOG") else []), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, env=env)
        self.messages = queue.Queue()
        self.next_id = 1
        threading.Thread(target=self._read, daemon=True).start()
        uri = "file://" + root
        self.request("initialize", {
            "processId": None, "rootUri": uri,
            "workspaceFolders": [{"uri": uri, "name": "bench"}],
            "capabilities": {"window": {"workDoneProgress": True}}})
        self.notify("initialized", {})

    def _read(self):
        out = self.proc.stdout
        while True:
            length = None
            while True:
                line = out.readline()
                if not line:
                    return
                line = line.strip()
                if not line:
                    break
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            self.messages.put(json.loads(out.read(length)))

    def send(self, message):
        body = json.dumps(message).encode()
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()

    def notify(self, method, params):
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def request(self, method, params):
        rid = self.next_id
        self.next_id += 1
        self.send({"jsonrpc": "2.0", "id": rid, "method": method, "params": params})
        while True:
            m = self.messages.get(timeout=600)
            if "method" in m and "id" in m:  # the server asks: answer like a client
                self.send({"jsonrpc": "2.0", "id": m["id"], "result": None})
            elif m.get("id") == rid and "method" not in m:
                if "error" in m:
                    raise RuntimeError(f"{method}: {m['error']}")
                return m["result"]

    def search(self, query, limit=10):
        return self.request("scry/search", {"query": query, "limit": limit})

    def stop(self):
        self.request("shutdown", None)
        self.notify("exit", None)
        self.proc.wait(timeout=30)


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def summary(label, ms):
    print(f"{label:<28} n={len(ms):<5} p50 {statistics.median(ms):7.1f} ms   "
          f"p95 {pct(ms, 95):7.1f} ms   max {max(ms):7.1f} ms")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def wait_found(server, name, path):
    while True:
        hits = server.search(name, 3)
        if hits and hits[0]["symbol"] == name and hits[0]["path"] == path:
            return


def write_and_time(server, root, rel, mode, name):
    """Writes (`a`ppends or `w`rites) a function `name` into `rel`; ms until it is found."""
    with open(os.path.join(root, rel), mode) as f:
        f.write(f"\n\ndef {name}(value):\n    return value\n")
    t = time.monotonic()
    wait_found(server, name, rel)
    ms = (time.monotonic() - t) * 1000
    time.sleep(0.05)
    return ms


def main():
    binary = os.path.realpath(sys.argv[1])
    tree = sys.argv[2] if len(sys.argv) > 2 else "/tmp/scry-eval/stdlib/corpus"
    queries_file = sys.argv[3] if len(sys.argv) > 3 else "/tmp/scry-eval/stdlib/queries.jsonl"
    edits = int(sys.argv[4]) if len(sys.argv) > 4 else 40
    busy_files = int(sys.argv[5]) if len(sys.argv) > 5 else 2000
    work = tempfile.mkdtemp()
    try:
        root = os.path.join(work, "ws")
        shutil.copytree(tree, root)
        t0 = time.monotonic()
        server = Server(binary, root, os.path.join(work, "idx"))
        while True:
            status = server.request("scry/status", None)["workspaces"]
            if status and status[0]["state"] == "ready":
                break
            time.sleep(0.02)
        print(f"cold index through the server: {time.monotonic() - t0:.2f} s, "
              f"{status[0]['files']} files, {status[0]['chunks']} chunks, "
              f"index {os.path.getsize(status[0]['index']) / 1e6:.1f} MB")

        # Files on disk, changed by another program.
        targets = sorted(
            os.path.relpath(os.path.join(d, f), root)
            for d, _, fs in os.walk(root) for f in fs if f.endswith(".py"))[:edits]
        disk = [write_and_time(server, root, rel, "a", f"bench_disk_marker_{i}")
                for i, rel in enumerate(targets)]
        # New files: searchable once committed.
        created = [write_and_time(server, root, f"bench_new_{i}.py", "w", f"bench_new_file_{i}")
                   for i in range(edits // 2)]

        # An open buffer, edited without saving.
        rel = targets[-1]
        uri = "file://" + os.path.join(root, rel)
        with open(os.path.join(root, rel)) as f:
            text = f.read()
        server.notify("textDocument/didOpen", {"textDocument": {
            "uri": uri, "languageId": "python", "version": 0, "text": text}})
        buffer = []
        for i in range(edits):
            name = f"bench_buffer_marker_{i}"
            text += f"\n\ndef {name}(value):\n    return value\n"
            t = time.monotonic()
            server.notify("textDocument/didChange", {
                "textDocument": {"uri": uri, "version": i + 1},
                "contentChanges": [{"text": text}]})
            wait_found(server, name, rel)
            buffer.append((time.monotonic() - t) * 1000)
        server.notify("textDocument/didClose", {"textDocument": {"uri": uri}})

        queries = []
        with open(queries_file) as f:
            for line in f:
                line = line.strip()
                if line:
                    queries.append(json.loads(line)["query"] if line.startswith("{") else line)
        for q in queries[:20]:
            server.search(q)
        search = []
        for q in queries:
            t = time.monotonic()
            server.search(q)
            search.append((time.monotonic() - t) * 1000)

        time.sleep(2)
        pid = server.proc.pid
        rss = rss_mb(pid)
        c0 = cpu_seconds(pid)
        time.sleep(5)
        idle_cpu = cpu_seconds(pid) - c0

        touched = set(targets)
        busy = sorted(
            rel for rel in (os.path.relpath(os.path.join(d, f), root)
                            for d, _, fs in os.walk(root) for f in fs
                            if f.endswith((".py", ".c", ".h", ".rs", ".go", ".js", ".ts")))
            if rel not in touched)[:busy_files]
        for rel in busy:
            with open(os.path.join(root, rel), "a") as f:
                f.write("\n")
        # The watcher may hand the changes over in a few bursts: done once the server has
        # been ready for a second.
        during, last_busy, t0, i = [], None, time.monotonic(), 0
        while time.monotonic() - t0 < 600:
            now = time.monotonic()
            if server.request("scry/status", None)["workspaces"][0]["state"] == "indexing":
                last_busy = now
            elif now - (last_busy or t0 + 29) > 1:
                break
            t = time.monotonic()
            server.search(queries[i % len(queries)])
            if last_busy == now:
                during.append((time.monotonic() - t) * 1000)
            i += 1
        busy_s = (last_busy or t0) - t0

        summary("file on disk -> searchable", disk)
        print(f"  (each: {', '.join(f'{ms:.0f}' for ms in disk)} ms)")
        summary("new file -> searchable", created)
        summary("unsaved buffer -> searchable", buffer)
        summary("scry/search round trip", search)
        print(f"idle RSS {rss:.0f} MB; CPU over 5 idle seconds {idle_cpu:.2f} s")
        if during:
            summary("search during an update", during)
            print(f"  ({len(busy)} files changed at once; ready again after {busy_s:.1f} s)")
        else:
            print(f"search during an update: the update of {len(busy)} files was never seen")
        server.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
