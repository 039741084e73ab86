// The extension's decisions, without VS Code: where the server is, what the QuickPick shows,
// what the status bar says.
const test = require("node:test");
const assert = require("node:assert");
const path = require("node:path");
const { findServer, scopeToggle, serverSettings, statusText, toItems } = require("../out/logic.js");

test("finds the server: SCRY_PATH, the setting, the bundled binary, then PATH", () => {
  const files = new Set(["/env/scry", "/setting/scry", "/ext/bin/scry", "/usr/local/bin/scry"]);
  const isFile = (p) => files.has(p);
  const env = { SCRY_PATH: "/env/scry", PATH: "/usr/bin:/usr/local/bin" };
  assert.deepStrictEqual(findServer(env, "/setting/scry", "/ext", isFile), { path: "/env/scry", source: "SCRY_PATH" });
  delete env.SCRY_PATH;
  assert.strictEqual(findServer(env, "/setting/scry", "/ext", isFile).path, "/setting/scry");
  assert.strictEqual(findServer(env, "", "/ext", isFile).path, "/ext/bin/scry");
  files.delete("/ext/bin/scry");
  assert.deepStrictEqual(findServer(env, "", "/ext", isFile), { path: "/usr/local/bin/scry", source: "PATH" });
  files.clear();
  assert.match(findServer(env, "", "/ext", isFile).error, /not found.*scry\.server\.path/);
  assert.match(findServer(env, "/nope/scry", "/ext", isFile).error, /scry\.server\.path setting names \/nope\/scry/);
});

test("QuickPick entries name the symbol, where it is and its first line", () => {
  const result = {
    uri: "file:///ws/net/retry.py",
    range: { start: { line: 3, character: 0 }, end: { line: 10, character: 31 } },
    score: 0.9, symbol: "retry_upload", kind: "function", language: "python", path: "net/retry.py",
    snippet: "\ndef retry_upload(send, attempts=3):\n    pass",
  };
  const [item] = toItems([result]);
  assert.strictEqual(item.label, "$(symbol-method) retry_upload");
  assert.strictEqual(item.description, "net/retry.py:4");
  assert.strictEqual(item.detail, "def retry_upload(send, attempts=3):");
  const [block] = toItems([{ ...result, symbol: null, kind: "block" }]);
  assert.strictEqual(block.label, "$(symbol-misc) def retry_upload(send, attempts=3):");
  // A file's other matches follow it, each opening the file at its place.
  const place = { start: { line: 20, character: 0 }, end: { line: 31, character: 0 } };
  const [, also] = toItems([{ ...result, more: [{ range: place, score: 0.5, symbol: "backoff" }] }]);
  assert.strictEqual(also.label, "$(blank) $(arrow-small-right) backoff");
  assert.strictEqual(also.description, "net/retry.py:21");
  assert.deepStrictEqual(also.result.range, place);
  assert.strictEqual(also.result.uri, result.uri);
  // An org-wide result names its repository.
  const [remote] = toItems([{ ...result, uri: null, repo: "geo", path: "geo/area.py" }]);
  assert.strictEqual(remote.description, "geo: geo/area.py:4");
});

test("the scope button says where the next search looks", () => {
  assert.match(scopeToggle("workspace").tooltip, /every synced repository of the org/);
  assert.strictEqual(scopeToggle("org").title, "Scry: the whole org");
});

test("the status bar says what the index is doing", () => {
  const ws = { root: "file:///ws", state: "ready", index: "/i", files: 3, chunks: 1234, vectors: 6, model: "static:x", buffers: 0, message: null };
  assert.strictEqual(statusText([ws]).text, "$(search) Scry: 1,234 chunks");
  assert.strictEqual(statusText([ws, { ...ws, state: "indexing" }]).text, "$(sync~spin) Scry: indexing");
  const failed = statusText([{ ...ws, state: "failed", message: "corrupt; run scry index --rebuild" }]);
  assert.strictEqual(failed.text, "$(error) Scry");
  assert.match(failed.tooltip, /--rebuild/);
  const sync = { root: ws.root, state: "synced", generation: 3, objectsUploaded: 5, bytesUploaded: 9000, message: null };
  const synced = statusText([ws], [sync]);
  assert.strictEqual(synced.text, "$(search) Scry: 1,234 chunks $(cloud) synced");
  assert.match(synced.tooltip, /sync synced, generation 3/);
  const offline = statusText([ws], [sync, { ...sync, root: "file:///b", state: "offline", message: "cannot reach" }]);
  assert.strictEqual(offline.text, "$(search) Scry: 1,234 chunks $(cloud) offline");
  assert.match(offline.tooltip, /cannot reach/);
});

test("settings reach the server without empty values", () => {
  assert.deepStrictEqual(serverSettings({ serverPath: "", model: "", exclude: ["vendor/"], limit: 30 }), { exclude: ["vendor/"], limit: 30 });
  assert.strictEqual(serverSettings({ serverPath: "", model: "none", exclude: [], limit: 5 }).model, "none");
});
