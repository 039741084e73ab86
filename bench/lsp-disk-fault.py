#!/usr/bin/env python3
"""The language server on a disk that runs full (issue 26, part 5): its index on a 1 MiB tmpfs,
a workspace that needs more; the space comes back after a few seconds, with no file changed and
nothing asked. Prints what the server reported, when, and whether a search then answers.
Needs root (mount).
    bench/lsp-disk-fault.py [SCRY] [WORKSPACE]   (default: target/release/scry, stdlib asyncio)
"""
import json, os, queue, shutil, subprocess, sys, sysconfig, tempfile, threading, time

here = os.path.dirname(os.path.abspath(__file__))
scry = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "../target/release/scry"))
src = sys.argv[2] if len(sys.argv) > 2 else os.path.join(sysconfig.get_paths()["stdlib"], "asyncio")
work = tempfile.mkdtemp()
ws, idx = os.path.join(work, "ws"), os.path.join(work, "idx")
shutil.copytree(src, ws)
os.mkdir(idx)
subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", idx], check=True)
server = subprocess.Popen([scry, "lsp"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL, env={**os.environ, "SCRY_INDEX_DIR": idx})
inbox = queue.Queue()


def read():
    while True:
        headers = {}
        while (line := server.stdout.readline().decode().strip()):
            name, value = line.split(":", 1)
            headers[name.lower()] = value.strip()
        if not headers:
            return
        inbox.put(json.loads(server.stdout.read(int(headers["content-length"]))))


def send(message):
    body = json.dumps({"jsonrpc": "2.0", **message}).encode()
    server.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
    server.stdin.flush()


def listen(seconds, until=None):
    end = time.time() + seconds
    while time.time() < end:
        try:
            m = inbox.get(timeout=0.2)
        except queue.Empty:
            continue
        if m.get("method") == "window/workDoneProgress/create":
            send({"id": m["id"], "result": None})
        elif m.get("method") == "scry/indexStatus":
            p = m["params"]
            print(f"{time.time() - started:5.1f} s  status {p['state']}: {p.get('message') or ''}"[:220])
        elif m.get("method") == "window/showMessage":
            print(f"{time.time() - started:5.1f} s  message: {m['params']['message']}"[:220])
        elif until and m.get("id") == until:
            return m


threading.Thread(target=read, daemon=True).start()
started = time.time()
try:
    root = "file://" + os.path.realpath(ws)
    send({"id": 1, "method": "initialize", "params": {"processId": None, "rootUri": root,
          "workspaceFolders": [{"uri": root, "name": "ws"}],
          "capabilities": {"window": {"workDoneProgress": True}}}})
    listen(2, until=1)
    send({"method": "initialized", "params": {}})
    listen(5)
    subprocess.run(["mount", "-o", "remount,size=64m", idx], check=True)
    print(f"{time.time() - started:5.1f} s  space is back")
    listen(35)
    send({"id": 2, "method": "scry/search", "params": {"query": "run the event loop", "limit": 1}})
    answer = listen(10, until=2) or {}
    top = (answer.get("result") or [{}])[0]
    print(f"{time.time() - started:5.1f} s  search: {top.get('path')} {top.get('symbol')} {answer.get('error', '')}")
finally:
    server.kill()
    subprocess.run(["umount", "-l", idx])
    shutil.rmtree(work, ignore_errors=True)
