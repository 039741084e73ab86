#!/usr/bin/env python3
"""Faults under load for scry-server on PostgreSQL (a throwaway cluster): several threads create
API keys (a write) through two replicas while /readyz of the first is polled, and a third of
the way in
  pg-restart:   PostgreSQL is stopped for OUTAGE seconds and started again;
  replica-kill: the first replica is killed (-9) and started again OUTAGE seconds later; a
                client whose request got no answer sends it again to the other replica;
  table-lock:   a slow database: another session holds the API keys' table locked for OUTAGE
                seconds (as a migration or a stuck transaction would), while a reader also
                asks for the org, which needs no such lock;
  clock-skew:   the second replica's clock runs OUTAGE seconds ahead (libfaketime, installed
                with apt when missing) and the org may make 300 requests a minute: how many
                writes each minute (by this machine's clock) was acknowledged.
Prints what was sent, acknowledged and refused, whether any acknowledged write is missing
afterwards (lost) or any refused one stored anyway (or twice, after a resend), how long the
first replica reported not-ready, and how soon writes succeeded again.

    [WRITERS=8] [STATEMENT_TIMEOUT_MS=N] [LOCK_TIMEOUT_MS=N] bench/server-chaos.py
        [SCRY_SERVER_BINARY] [pg-restart|replica-kill|table-lock] [SECONDS] [OUTAGE]
(as root it runs PostgreSQL as `postgres`; the *_TIMEOUT_MS set the service's settings of
those names, 0 for none.)"""
import base64, glob, json, os, shutil, socket, subprocess, sys, tempfile, threading, time
import urllib.request, urllib.error

binary = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "target/release/scry-server")
mode = sys.argv[2] if len(sys.argv) > 2 else "pg-restart"
assert mode in ("pg-restart", "replica-kill", "table-lock", "clock-skew"), mode
duration = float(sys.argv[3]) if len(sys.argv) > 3 else 12
outage = float(sys.argv[4]) if len(sys.argv) > 4 else 3
THREADS = int(os.environ.get("WRITERS", 8))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


work = tempfile.mkdtemp()
os.chmod(work, 0o755)
pgbin = sorted(glob.glob("/usr/lib/postgresql/*/bin"))[-1]
as_pg = ["runuser", "-u", "postgres", "--"] if os.getuid() == 0 else []
pgdata = os.path.join(work, "pg")
os.mkdir(pgdata)
if as_pg:
    shutil.chown(pgdata, "postgres")
pgport = free_port()
run = lambda *cmd: subprocess.run(as_pg + list(cmd), check=True, stdout=subprocess.DEVNULL)
pg_ctl = lambda *args: run(f"{pgbin}/pg_ctl", "-D", pgdata, "-l", f"{pgdata}/log", *args)
run(f"{pgbin}/initdb", "-D", pgdata, "-U", "postgres", "--auth=trust", "-E", "UTF8")
pg_opts = f"-p {pgport} -k {pgdata} -c listen_addresses=127.0.0.1"
pg_ctl("-w", "-o", pg_opts, "start")
config = os.path.join(work, "config.toml")
settings = "".join(f"{key.lower()} = {int(os.environ[key])}\n"
                   for key in ("STATEMENT_TIMEOUT_MS", "LOCK_TIMEOUT_MS") if key in os.environ)
per_minute = 300 if mode == "clock-skew" else 1000000000
open(config, "w").write(settings + "[tiers.free]\nmax_repos = 3\nmax_chunks = 1000000\n"
                        f"requests_per_minute = {per_minute}\n")
faketime = []
if mode == "clock-skew":
    if not shutil.which("faketime"):
        subprocess.run((["sudo"] if os.getuid() else []) + ["apt-get", "install", "-y", "-q", "faketime"],
                       check=True, stdout=subprocess.DEVNULL)
    faketime = ["faketime", "-f", f"+{outage}s"]
secrets_key = base64.b64encode(os.urandom(32)).decode()
ports = [free_port(), free_port()]
bases = [f"http://127.0.0.1:{p}" for p in ports]


def start(replica):
    """Starts replica 0 or 1 and waits until it is ready."""
    process = subprocess.Popen(
        (faketime if replica == 1 else []) + [binary, "--config", config, "--addr", f"127.0.0.1:{ports[replica]}",
         "--database-url", f"postgres://postgres@127.0.0.1:{pgport}/postgres",
         "--secrets-key", secrets_key],
        env={**os.environ, "SCRY_SERVER_LOG": "warn"},
        stdout=open(os.path.join(work, f"server{replica}.log"), "a"), stderr=subprocess.STDOUT)
    for _ in range(100):
        if request("GET", "/readyz", replica=replica)[0] == 200:
            return process
        time.sleep(0.1)
    sys.exit("scry-server did not start:\n" + open(os.path.join(work, f"server{replica}.log")).read())


def request(method, path, token=None, body=None, timeout=10, replica=0):
    req = urllib.request.Request(bases[replica] + path, method=method,
                                 data=None if body is None else json.dumps(body).encode())
    req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")
    except (urllib.error.URLError, OSError) as e:
        return 0, str(e)


servers = []
try:
    servers = [start(0), start(1)]
    user = {"email": "chaos@example.com", "password": "correct horse battery"}
    assert request("POST", "/v1/users", body=user)[0] == 201
    signed_in = request("POST", "/v1/sessions", body=user)
    assert signed_in[0] in (200, 201), signed_in
    token = signed_in[1]["token"]
    org = request("POST", "/v1/orgs", token, {"name": "chaos"})[1]["id"]

    outcomes = []  # (name, status, sent at, seconds taken)
    resent = []
    ready = []  # (at, status)
    reads = []  # (status, sent at, seconds taken)
    started = time.monotonic()
    wall_start = time.time()
    stop = threading.Event()

    def writer(n):
        i = 0
        while not stop.is_set():
            name = f"w{n}-{i}"
            at = time.monotonic() - started
            body = {"name": name, "role": "viewer"}
            replica = i % 2
            status, _ = request("POST", f"/v1/orgs/{org}/keys", token, body, 60, replica)
            if status == 0 and mode == "replica-kill":
                resent.append(name)
                status, _ = request("POST", f"/v1/orgs/{org}/keys", token, body, 60, 1 - replica)
            outcomes.append((name, status, at, time.monotonic() - started - at))
            i += 1

    def prober():
        while not stop.is_set():
            at = time.monotonic() - started
            status = request("GET", "/readyz", timeout=2)[0]
            ready.append((at, time.monotonic() - started, status))
            time.sleep(0.05)

    def reader():
        while not stop.is_set():
            at = time.monotonic() - started
            status = request("GET", f"/v1/orgs/{org}", token, timeout=60)[0]
            reads.append((status, at, time.monotonic() - started - at))
            time.sleep(0.05)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(THREADS)]
    threads += [threading.Thread(target=prober), threading.Thread(target=reader)]
    for t in threads:
        t.start()
    time.sleep(duration / 3)
    down_at = time.monotonic() - started
    if mode == "pg-restart":
        pg_ctl("-m", "fast", "-w", "stop")
        time.sleep(outage)
        pg_ctl("-w", "-o", pg_opts, "start")
    elif mode == "clock-skew":
        time.sleep(outage)
    elif mode == "table-lock":
        run(f"{pgbin}/psql", "-h", pgdata, "-p", str(pgport), "-U", "postgres", "-q", "-c",
            f"BEGIN; LOCK TABLE api_keys IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep({outage}); COMMIT;")
    else:
        servers[0].kill()
        servers[0].wait()
        time.sleep(outage)
        servers[0] = start(0)
    up_at = time.monotonic() - started
    time.sleep(max(0, duration - duration / 3 - outage))
    stop.set()
    for t in threads:
        t.join()

    names, cursor, stored = set(), None, []
    while True:
        query = "?limit=100" + (f"&cursor={cursor}" if cursor else "")
        status, page = request("GET", f"/v1/orgs/{org}/keys{query}", token)
        if status == 429:  # clock-skew's limit: wait for the next window
            time.sleep(5)
            continue
        assert status == 200, (status, page)
        items = page["items"] if isinstance(page, dict) else page
        names |= {k["name"] for k in items}
        stored += [k["name"] for k in items]
        cursor = page.get("next_cursor") if isinstance(page, dict) else None
        if not cursor:
            break
    acked = {n for n, s, _, _ in outcomes if s in (200, 201)}
    refused = {n for n, s, _, _ in outcomes if s not in (200, 201)}
    by_status = {}
    for _, s, _, _ in outcomes:
        by_status[s] = by_status.get(s, 0) + 1
    not_ready = [(at, end, s) for at, end, s in ready if s != 200]
    back = min((at + took for _, s, at, took in outcomes if s in (200, 201) and at + took > up_at),
               default=None)
    slowest = max(took for *_, took in outcomes)
    what = {"pg-restart": "PostgreSQL", "replica-kill": "replica 1 of 2",
            "table-lock": "the API keys' table", "clock-skew": "the clocks"}[mode]
    lock = [(s, took) for s, at, took in reads if at + took > down_at and at < up_at]
    if mode == "clock-skew":
        print(f"the second replica's clock {outage:.0f} s ahead; {THREADS} writers, {duration:.0f} s")
    else:
        print(f"{what} down at {down_at:.1f} s for {outage:.1f} s; {THREADS} writers, {duration:.0f} s")
    print(f"sent {len(outcomes)}: " + ", ".join(f"{n}×{s}" for s, n in sorted(by_status.items())))
    print(f"acknowledged {len(acked)}, lost {len(acked - names)}; refused {len(refused)}, "
          f"stored anyway {len(refused & names)}, stored twice {len(stored) - len(set(stored))}")
    print(f"slowest write answered in {slowest:.2f} s; {len(resent)} sent again to the other replica")
    if not_ready:
        kinds = sorted({s for *_, s in not_ready})
        print(f"/readyz not ready (status {kinds}, 0 = no answer in 2 s) between "
              f"{min(a for a, _, _ in not_ready):.1f} s and {max(e for _, e, _ in not_ready):.1f} s")
    if mode != "clock-skew":
        print(f"first write answered {back - up_at:.2f} s after {what} was back"
              if back is not None else f"no write answered after {what} was back")
        print(f"reads of the org during the fault: {len(lock)}, failed "
              f"{sum(s != 200 for s, _ in lock)}, slowest {max((t for _, t in lock), default=0):.2f} s")
    else:
        minutes = {}
        for _, s, at, took in outcomes:
            if s in (200, 201):
                minute = int((wall_start + at + took) // 60)
                minutes[minute] = minutes.get(minute, 0) + 1
        whole = sorted(minutes.items())[1:-1]
        print(f"writes acknowledged in each whole minute (limit {per_minute}): "
              + ", ".join(str(n) for _, n in whole))
    print(f"replicas running: {sum(s.poll() is None for s in servers)} of 2")
finally:
    for server in servers:
        server.terminate()
        server.wait()
    try:
        pg_ctl("-m", "immediate", "stop")
    except subprocess.CalledProcessError:
        pass
    shutil.rmtree(work, ignore_errors=True)
