"""Drives the real desktop app through tauri-driver (W3C WebDriver over HTTP, no client
library): signs in by device flow (the browser opened on the code's page, approved by a test
user through the API), creates an org, creates and revokes an API key (checked against the
API), adds and indexes a folder, enables sync (the generation checked on the server; a later
change synced by itself), searches and opens a result in the editor the settings name,
follows scry:// links given to a second launch (one instance), and fills the repository
quota until the next one is refused. A screenshot per step goes to OUT; timings to
OUT/timings.json.

    python3 drive.py   (run.sh sets the environment it reads)
"""

import http.client as http_client
import json
import os
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

DRIVER = os.environ["DRIVER"]
SERVER = os.environ["SERVER"]
APP = os.environ["APP"]
PROJECT = os.environ["PROJECT"]
OTHER = os.environ["OTHER"]
OUT = os.environ["OUT"]
EDITOR = os.environ["EDITOR_SCRIPT"]
OPENED = os.environ["OPENED"]
BROWSED = os.environ["BROWSED"]
EMAIL = "dev@example.com"
PASSWORD = "correct horse battery"
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"


def http(method, url, body=None, token=None):
    """The status and JSON answer of one request."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("content-type", "application/json")
    if token:
        request.add_header("authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=120) as answer:
            text = answer.read()
            return answer.status, json.loads(text) if text else None
    except urllib.error.HTTPError as e:
        text = e.read()
        return e.code, json.loads(text) if text else None


def api(method, path, body=None, token=None, expect=(200, 201, 204)):
    status, answer = http(method, SERVER + path, body, token)
    assert status in expect, f"{method} {path}: {status} {answer}"
    return answer


class App:
    """One WebDriver session of the app."""

    def __init__(self):
        caps = {"alwaysMatch": {"browserName": "wry", "tauri:options": {"application": APP}}}
        started = time.monotonic()
        answer = self.call("POST", "/session", {"capabilities": caps}, session=False)
        self.id = answer["sessionId"]
        self.started = started
        self.shots = 0

    def call(self, method, path, body=None, session=True):
        url = DRIVER + (f"/session/{self.id}" if session else "") + path
        for attempt in range(3):
            try:
                status, answer = http(method, url, body)
                break
            except (ConnectionError, http_client.RemoteDisconnected):
                # tauri-driver reuses a kept-alive connection to WebKitWebDriver that the
                # latter just closed; the request never reached it, so sending again is safe.
                if attempt == 2:
                    raise
                time.sleep(0.2)
        assert status == 200, f"WebDriver {method} {path}: {status} {answer}"
        return answer["value"]

    def js(self, script, *args):
        return self.call("POST", "/execute/sync", {"script": script, "args": list(args)})

    def find(self, css):
        """The element `css` selects (waiting for it to exist)."""

        def found():
            hits = self.call("POST", "/elements", {"using": "css selector", "value": css})
            return hits[0][ELEMENT] if hits else None

        return self.wait(f"an element {css!r}", found, timeout=30)

    def button(self, text):
        """The visible, enabled button whose text is `text` (waiting for it to show)."""
        xpath = f"//button[normalize-space()={json.dumps(text)}]"

        def visible():
            found = self.call("POST", "/elements", {"using": "xpath", "value": xpath})
            for element in found:
                eid = element[ELEMENT]
                if self.call("GET", f"/element/{eid}/displayed") and self.call("GET", f"/element/{eid}/enabled"):
                    return eid
            return None

        return self.wait(f"a button {text!r}", visible, timeout=30)

    def click(self, css=None, text=None):
        eid = self.button(text) if text else self.find(css)
        self.call("POST", f"/element/{eid}/click", {})

    def type(self, css, text):
        eid = self.find(css)
        self.call("POST", f"/element/{eid}/clear", {})
        self.call("POST", f"/element/{eid}/value", {"text": text})

    def text(self, css):
        return self.js("const e = document.querySelector(arguments[0]); return e ? e.textContent : null;", css)

    def wait(self, what, check, timeout=90):
        deadline = time.monotonic() + timeout
        while True:
            found = check()
            if found:
                return found
            if time.monotonic() > deadline:
                self.shot("failed")
                raise AssertionError(f"timed out waiting for {what}; banner: {self.text('#banner')!r}")
            time.sleep(0.2)

    def wait_text(self, css, wanted, timeout=90):
        return self.wait(f"{css} to contain {wanted!r}", lambda: wanted in (self.text(css) or ""), timeout)

    def screen(self, name):
        self.click(f'nav button[data-screen="{name}"]')

    def shot(self, name):
        """The screen as a person sees it (X's root window: WebKitWebDriver's own screenshot
        sometimes takes the driver down)."""
        self.shots += 1
        path = os.path.join(OUT, f"{self.shots:02d}-{name}.png")
        # Two frames drawn since the last change, then a moment for X to show them.
        script = "const done = arguments[0]; requestAnimationFrame(() => requestAnimationFrame(() => done()));"
        self.call("POST", "/execute/async", {"script": script, "args": []})
        time.sleep(0.3)
        # A frame of one colour (a tiny PNG) is a window not drawn yet: take it again.
        for _ in range(50):
            subprocess.run(["import", "-window", "root", path], check=True)
            if os.path.getsize(path) > 2048:
                return
            time.sleep(0.2)
        raise AssertionError(f"the screen stayed blank for {name}")

    def quit(self):
        http("DELETE", f"{DRIVER}/session/{self.id}")


def main():
    timings = {}
    api("POST", "/v1/users", {"email": EMAIL, "password": PASSWORD})
    person = api("POST", "/v1/sessions", {"email": EMAIL, "password": PASSWORD})["token"]

    app = App()
    app.wait_text("#account", "Signed out")
    timings["start_to_interactive_s"] = round(time.monotonic() - app.started, 3)
    app.shot("signed-out")

    # Sign in by device flow: the code on screen, approved by the person through the API.
    app.click("#device-start")
    code = app.wait("the device code", lambda: (app.text("#device-code") or "").strip())
    page = app.wait("the browser", lambda: os.path.exists(BROWSED) and open(BROWSED).read().strip())
    assert page.startswith(SERVER + "/device") and code in page, (page, code)
    app.shot("device-code")
    api("POST", "/v1/device/verify", {"user_code": code, "approve": True}, person)
    app.wait_text("#account", EMAIL)
    app.wait_text("#account", "session in the keyring")

    # An organisation.
    app.screen("org")
    app.type("#org-name", "acme")
    app.click(text="Create")
    app.wait_text("#org-select", "acme (owner, free)")
    app.wait_text("#member-list", EMAIL)
    org = api("GET", "/v1/orgs", token=person)[0]["id"]
    app.shot("organisation")

    # An API key: shown once, works against the API, fails once revoked.
    app.screen("keys")
    app.type("#key-name", "ci")
    app.click(text="Create key")
    key = app.wait("the key", lambda: app.text("#key-secret code"))
    assert key.startswith("scry_live_"), key
    app.wait_text("#key-list", "ci (")
    app.shot("key-created")
    api("GET", "/v1/keys/current", token=key)
    app.click('button[aria-label="Revoke the key ci"]')
    app.click('button[aria-label="Confirm: Revoke the key ci"]')
    app.wait_text("#key-list", "No keys yet.")
    api("GET", "/v1/keys/current", token=key, expect=(401,))
    app.shot("key-revoked")

    # A local folder, indexed live.
    app.screen("workspaces")
    app.type("#workspace-path", PROJECT)
    app.click(text="Add and index")
    app.wait("the index", lambda: "ready" in (app.text("#workspace-list") or "") and "3 files" in app.text("#workspace-list"))
    app.shot("workspace-indexed")

    # Sync: the preview says what leaves and what never does; enable; sync now.
    app.click(f'button[aria-label="Sync {PROJECT}"]')
    app.wait_text("#sync-body", "A first sync would send 2 files")
    app.wait_text("#sync-body", "secrets.yaml")
    app.shot("sync-preview")
    app.click(text="Enable sync to acme")
    app.click(text="Sync now")
    app.wait_text("#sync-body", "generation 1")
    repos = api("GET", f"/v1/orgs/{org}/repos", token=person)["items"]
    assert [r["name"] for r in repos] == ["project"], repos
    refs = api("GET", f"/v1/orgs/{org}/repos/{repos[0]['id']}/index/refs", token=person)
    assert refs[0]["generation"] == 1, refs
    app.wait_text("#repo-list", f"linked to {PROJECT}")
    app.wait_text("#repo-list", "generation 1, last synced")
    # A change syncs by itself once the index is quiet (run.sh shortens the wait).
    with open(f"{PROJECT}/src/render.rs", "a") as f:
        f.write("// joins with spaces\n")
    app.wait_text("#sync-body", "generation 2")
    app.shot("synced")
    # Enabling took the org's data key on this device: its fingerprint, to compare.
    app.screen("org")
    app.wait_text("#data-key-state", "fingerprint")
    app.wait_text("#device-list", "(this device)")
    app.shot("data-key")

    # Search: keystroke to results, timed in the page.
    app.screen("search")
    latencies = []
    for query in ["retry the upload", "join words", "retry the upload when the network fails"]:
        app.type("#query", query)
        app.click("#search-form button[type=submit]")
        app.wait_text("#search-note", "results in")
        note = app.text("#search-note")
        latencies.append(int(note.split(" in ")[1].split(" ")[0]))
        app.js("document.getElementById('search-note').textContent = ''")
    assert "src/upload.py" in app.text("#results"), app.text("#results")
    timings["search_ms"] = latencies
    app.shot("search")
    # The whole org: its synced repositories, fetched and decrypted here; this one's results
    # name it and open the local file.
    app.click("#search-org")
    app.type("#query", "retry the upload")
    app.click("#search-form button[type=submit]")
    app.wait_text("#search-note", "results in")
    assert "project/src/upload.py" in app.text("#results"), app.text("#results")
    app.shot("search-org")
    app.click("#search-org")
    app.js("document.getElementById('search-note').textContent = ''")

    # A result opens in the editor the settings name: Enter on the focused first result.
    app.screen("settings")
    app.type("#setting-editor", f"{EDITOR} {{file}} {{line}}")
    app.click(text="Save settings")
    app.wait_text("#settings-saved", "Saved.")
    app.shot("settings")
    app.screen("search")
    app.type("#query", "retry the upload")
    app.click("#search-form button[type=submit]")
    app.wait_text("#search-note", "results in")
    first = app.wait("the first result", lambda: app.text("#results button"))
    active = app.call("GET", "/element/active")[ELEMENT]
    assert app.call("GET", f"/element/{active}/text") == first, "the first result has the focus"
    app.call("POST", f"/element/{active}/value", {"text": "\ue007"})
    opened = app.wait("the editor", lambda: os.path.exists(OPENED) and open(OPENED).read().strip())
    path, line = first.split(":")[0], first.split(":")[1].split("-")[0]
    assert opened == f"{PROJECT}/{path} {line}", (opened, first)

    # A second launch with a scry:// link goes to the running app, which follows it.
    os.remove(OPENED)
    link = f"scry://open?root={urllib.parse.quote(PROJECT)}&path=src/render.rs&line=2"
    second = subprocess.run([APP, link], timeout=60, capture_output=True)
    assert second.returncode == 0, second.stderr.decode()[-2000:]
    opened = app.wait("the link's file", lambda: os.path.exists(OPENED) and open(OPENED).read().strip())
    assert opened == f"{PROJECT}/src/render.rs 2", opened
    app.screen("usage")
    subprocess.run([APP, "scry://search?q=join%20words"], timeout=60, check=True, capture_output=True)
    app.wait("the linked search", lambda: app.js("return document.getElementById('query').value") == "join words")
    app.wait_text("#results", "src/render.rs")
    app.shot("linked-search")

    # The repository quota: two more fill the free tier's three; the next one is refused.
    for name in ["web", "api"]:
        api("POST", f"/v1/orgs/{org}/repos", {"name": name}, person)
    app.screen("usage")
    app.wait_text("#quota-list", "repositories: 3 of 3")
    app.shot("usage")
    app.screen("workspaces")
    app.type("#workspace-path", OTHER)
    app.click(text="Add and index")
    app.wait("the second index", lambda: app.text("#workspace-list").count("ready") == 2)
    app.click(f'button[aria-label="Sync {OTHER}"]')
    app.wait_text("#sync-body", "A first sync would send")
    app.click(text="Enable sync to acme")
    app.wait_text("#banner", "3 repositories")
    app.shot("quota-refused")

    time.sleep(5)  # idle: the last screen drawn, no request in flight
    timings["idle_pss_mb"] = pss_mb()
    app.quit()
    with open(os.path.join(OUT, "timings.json"), "w") as f:
        json.dump(timings, f, indent=2)
    print(json.dumps(timings))


def pss_mb():
    """Memory of the app and its WebKit processes, in MB: proportional set size, so the
    libraries they share count once."""
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            if not any(n in cmd for n in ("scry-desktop", "WebKitWebProcess", "WebKitNetworkProcess")):
                continue
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
        except OSError:
            continue
    return round(total / 1024, 1)


if __name__ == "__main__":
    try:
        main()
    except Exception:
        # What was still running when it failed: the app, the WebKit processes, the driver.
        ps = subprocess.run(["ps", "-eo", "pid,stat,etime,args"], capture_output=True, text=True).stdout
        print("\n".join(l for l in ps.splitlines() if "WebKit" in l or "scry-desktop" in l or "PID" in l))
        raise
