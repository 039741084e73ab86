// The real `scry lsp` over vscode-jsonrpc (what vscode-languageclient uses), with the
// extension's own view of the results.
const test = require("node:test");
const assert = require("node:assert");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { spawn } = require("node:child_process");
const rpc = require("vscode-jsonrpc/node");
const { toItems, statusText } = require("../out/logic.js");

// The test command sets SCRY_BIN; then a missing binary is a failure, not a skip. Without it
// (a developer's `npm test`), the debug build is used when there is one.
const binary = process.env.SCRY_BIN || path.resolve(__dirname, "../../../target/debug/scry");
const skip = !process.env.SCRY_BIN && !fs.existsSync(binary) && `no ${binary} (build Scry or set SCRY_BIN)`;

test("searches a workspace through the real server", { skip }, async () => {
  assert.ok(fs.existsSync(binary), `SCRY_BIN=${binary} does not exist`);
  const root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "scry-vscode-")));
  const index = fs.mkdtempSync(path.join(os.tmpdir(), "scry-vscode-index-"));
  fs.mkdirSync(path.join(root, "net"));
  fs.writeFileSync(path.join(root, "net", "retry.py"),
    "def retry_upload(send, attempts=3):\n    \"\"\"Retry a failed upload with backoff.\"\"\"\n    for i in range(attempts):\n        send()\n");
  fs.writeFileSync(path.join(root, "slug.py"), "def slugify(title):\n    return title.lower()\n");
  const child = spawn(binary, ["lsp"], { env: { ...process.env, SCRY_INDEX_DIR: index }, stdio: ["pipe", "pipe", "ignore"] });
  const connection = rpc.createMessageConnection(new rpc.StreamMessageReader(child.stdout), new rpc.StreamMessageWriter(child.stdin));
  const states = [];
  connection.onNotification("scry/indexStatus", (s) => states.push(s));
  connection.onRequest("window/workDoneProgress/create", () => null);
  connection.listen();
  try {
    const uri = "file://" + root;
    const init = await connection.sendRequest("initialize", {
      processId: process.pid, rootUri: uri, workspaceFolders: [{ uri, name: "ws" }],
      capabilities: { window: { workDoneProgress: true } }, initializationOptions: { limit: 30, exclude: [] },
    });
    assert.strictEqual(init.capabilities.experimental.scry.search, "scry/search");
    await connection.sendNotification("initialized", {});
    let status;
    for (let i = 0; i < 300; i++) {
      status = await connection.sendRequest("scry/status");
      if (status.workspaces[0]?.state === "ready") break;
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.strictEqual(status.workspaces[0].state, "ready");
    assert.match(statusText(status.workspaces).text, /Scry: \d+ chunks/);
    assert.ok(states.some((s) => s.state === "ready"), "scry/indexStatus reached the client");
    const results = await connection.sendRequest("scry/search", { query: "retry a failed upload", limit: 5 });
    const [item] = toItems(results);
    assert.strictEqual(item.label, "$(symbol-method) retry_upload");
    assert.strictEqual(item.description, "net/retry.py:1");
    await connection.sendRequest("shutdown");
    await connection.sendNotification("exit");
  } finally {
    connection.dispose();
    child.kill();
    fs.rmSync(root, { recursive: true, force: true });
    fs.rmSync(index, { recursive: true, force: true });
  }
});
