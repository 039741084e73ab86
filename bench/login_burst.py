#!/usr/bin/env python3
"""Memory of scry-server under a burst of concurrent wrong logins (the hostile probe's finding 5).

    bench/login_burst.py path/to/scry-server [--logins 200] [--throttle default|off]

Starts the server on loopback with a fresh SQLite data directory, signs one user up, sends
`--logins` wrong-password logins at once (one thread each), and samples the server's RSS every
50 ms: before, peak during the burst, and 5 s after. `--throttle off` raises every throttle out
of reach, so every login is hashed and only the hashing slots bound memory; `default` keeps the
shipped limits (a burst is mostly refused with 429 before hashing). Prints one JSON line.
"""

import argparse
import collections
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def post(base, path, body):
    request = urllib.request.Request(
        base + path,
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return "error"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("server")
    ap.add_argument("--logins", type=int, default=200)
    ap.add_argument("--throttle", choices=["default", "off"], default="default")
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="login-burst-")
    config = os.path.join(work, "config.toml")
    with open(config, "w") as f:
        if args.throttle == "off":
            f.write(
                "[throttle]\n"
                "login_failures_per_account = 1000000\n"
                "login_failures_per_address = 1000000\n"
            )
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [args.server, "--config", config, "--data-dir", os.path.join(work, "data"),
         "--addr", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "SCRY_SERVER_LOG": "error"},
    )
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(base + "/readyz", timeout=1)
                break
            except OSError:
                time.sleep(0.05)
        post(base, "/v1/users", {"email": "victim@example.com", "password": "correct horse battery"})
        time.sleep(1)
        before = rss_mib(server.pid)

        statuses = collections.Counter()
        lock = threading.Lock()
        start = threading.Barrier(args.logins + 1)

        def login():
            start.wait()
            status = post(base, "/v1/sessions",
                          {"email": "victim@example.com", "password": "wrong password!"})
            with lock:
                statuses[status] += 1

        threads = [threading.Thread(target=login) for _ in range(args.logins)]
        for t in threads:
            t.start()
        peak = before
        began = time.time()
        start.wait()
        while any(t.is_alive() for t in threads):
            peak = max(peak, rss_mib(server.pid))
            time.sleep(0.05)
        took = time.time() - began
        time.sleep(5)
        after = rss_mib(server.pid)
        print(json.dumps({
            "server": args.server,
            "logins": args.logins,
            "throttle": args.throttle,
            "rss_mib_before": round(before, 1),
            "rss_mib_peak": round(max(peak, after), 1),
            "rss_mib_5s_after": round(after, 1),
            "burst_s": round(took, 2),
            "statuses": {str(k): v for k, v in sorted(statuses.items(), key=str)},
        }))
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    sys.exit(main())
