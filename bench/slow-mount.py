#!/usr/bin/env python3
"""A workspace on a slow mount, then on one that stops answering: bench/slowfs.py (FUSE) over a
copy of TREE, each call to it DELAY_MS late, as sshfs or NFS over a long link is.

  1. `scry index` of the copy on local disk and through the mount, and a no-op re-index.
  2. `scry lsp` on the mount: time to ready, and `scry/status` / `scry/search` latency while it
     indexes (they must not wait for the disk).
  3. The mount stalls (every call blocks) for STALL_S seconds during a rescan: request latency
     meanwhile, when the status says so, how long after the mount answers again it is ready.
  4. `shutdown` + `exit` while the mount is stalled.

    bench/slow-mount.py SCRY_BINARY TREE [DELAY_MS] [STALL_S]      (root: it mounts FUSE)
Needs fusepy (scripts/fetch-fusepy.sh prints a directory for PYTHONPATH) and libfuse2.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lsp_latency import Server, pct  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def timed(args, env):
    t = time.monotonic()
    subprocess.run(args, env=env, check=True, capture_output=True)
    return time.monotonic() - t


def probe(server, query):
    """The status, and milliseconds for it and for a search."""
    t = time.monotonic()
    status = server.request("scry/status", None)["workspaces"][0]
    a = time.monotonic()
    try:
        server.search(query, 10)
    except RuntimeError:  # the first index is not built yet: an answer all the same
        pass
    return status, (a - t) * 1000, (time.monotonic() - a) * 1000


def main():
    binary = os.path.realpath(sys.argv[1])
    tree = sys.argv[2]
    delay = float(sys.argv[3]) if len(sys.argv) > 3 else 5
    stall_s = float(sys.argv[4]) if len(sys.argv) > 4 else 40
    work = tempfile.mkdtemp()
    src, mnt, stall = (os.path.join(work, n) for n in ("src", "mnt", "stall"))
    shutil.copytree(tree, src, symlinks=True)
    os.mkdir(mnt)
    fs = subprocess.Popen([sys.executable, os.path.join(HERE, "slowfs.py"), src, mnt, str(delay),
                           stall], stderr=subprocess.DEVNULL)
    try:
        while not os.path.ismount(mnt):
            assert fs.poll() is None, "slowfs.py did not mount (fusepy, libfuse2, root?)"
            time.sleep(0.05)
        run(binary, work, src, mnt, stall, delay, stall_s)
    finally:
        if os.path.exists(stall):
            os.remove(stall)
        subprocess.run(["fusermount", "-u", "-z", mnt])
        fs.kill()
        shutil.rmtree(work, ignore_errors=True)


def run(binary, work, src, mnt, stall, delay, stall_s):
    files = sum(len(fs) for _, _, fs in os.walk(src))
    print(f"{files} files, each call to the mount {delay:g} ms late")
    env = lambda name: dict(os.environ, SCRY_INDEX_DIR=os.path.join(work, name))
    local = timed([binary, "index", src], env("local"))
    mounted = timed([binary, "index", mnt], env("mounted"))
    noop_local = timed([binary, "index", src], env("local"))
    noop_mounted = timed([binary, "index", mnt], env("mounted"))
    print("| `scry index` | local disk | slow mount |")
    print("| --- | --- | --- |")
    print(f"| cold | {local:.2f} s | {mounted:.2f} s |")
    print(f"| no-op | {noop_local:.2f} s | {noop_mounted:.2f} s |")

    query = "sort the entries of a list"
    t = time.monotonic()
    server = Server(binary, mnt, os.path.join(work, "lsp"))
    status_ms, search_ms = [], []
    while True:
        status, s_ms, q_ms = probe(server, query)
        if status["state"] == "ready":
            break
        status_ms.append(s_ms)
        search_ms.append(q_ms)
        time.sleep(0.5)
    ready = time.monotonic() - t
    if status_ms:
        print(f"`scry lsp` ready in {ready:.1f} s; while it indexed, {len(status_ms)} probes: "
              f"status p50/max {pct(status_ms, 50):.1f}/{max(status_ms):.1f} ms, "
              f"search p50/max {pct(search_ms, 50):.1f}/{max(search_ms):.1f} ms")
    else:
        print(f"`scry lsp` ready in {ready:.1f} s")

    # The mount stalls during a rescan.
    open(stall, "w").close()
    stalled_at = time.monotonic()
    server.request("workspace/executeCommand", {"command": "scry.reindex", "arguments": []})
    said, status_ms, search_ms = None, [], []
    while time.monotonic() - stalled_at < stall_s:
        status, s_ms, q_ms = probe(server, query)
        status_ms.append(s_ms)
        search_ms.append(q_ms)
        if said is None and "has not answered" in (status.get("message") or ""):
            said = time.monotonic() - stalled_at
        time.sleep(0.5)
    os.remove(stall)
    back = time.monotonic()
    while True:
        status, _, _ = probe(server, query)
        if status["state"] == "ready" and not status.get("message"):
            break
        time.sleep(0.2)
    recovered = time.monotonic() - back
    said = f"after {said:.1f} s" if said is not None else "never"
    print(f"stalled {stall_s:g} s during a rescan: {len(status_ms)} probes, status p50/max "
          f"{pct(status_ms, 50):.1f}/{max(status_ms):.1f} ms, search p50/max "
          f"{pct(search_ms, 50):.1f}/{max(search_ms):.1f} ms; the status said so {said}")
    print(f"ready and the note gone {recovered:.1f} s after the mount answered again")

    # Shutdown while a call to the stalled mount is in flight: the kernel ends no process
    # while one of its threads waits on a FUSE (or hard NFS) request the server has taken,
    # so the process can only be gone once the mount answers.
    open(stall, "w").close()
    server.request("workspace/executeCommand", {"command": "scry.reindex", "arguments": []})
    time.sleep(2)
    t = time.monotonic()
    server.request("shutdown", None)
    answered = time.monotonic() - t
    server.notify("exit", None)
    time.sleep(3)
    lingering = server.proc.poll() is None
    os.remove(stall)
    back = time.monotonic()
    server.proc.wait(timeout=60)
    print(f"shutdown with the mount stalled: answered in {answered * 1000:.0f} ms; 3 s after "
          f"exit the process {'still waited on the mount' if lingering else 'was gone'}; "
          f"gone {time.monotonic() - back:.2f} s after the mount answered")


if __name__ == "__main__":
    main()
