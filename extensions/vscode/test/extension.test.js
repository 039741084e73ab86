// The extension's activation against a stubbed `vscode` module: its commands and status bar,
// and a clear message when the server cannot be found.
const test = require("node:test");
const assert = require("node:assert");
const Module = require("node:module");

function stubVscode() {
  const calls = { commands: [], errors: [], statusItems: [] };
  const vscode = {
    StatusBarAlignment: { Left: 1, Right: 2 },
    window: {
      createStatusBarItem: () => {
        const item = { text: "", tooltip: "", show() { this.shown = true; }, dispose() {} };
        calls.statusItems.push(item);
        return item;
      },
      showErrorMessage: (m) => { calls.errors.push(m); },
      showInformationMessage: () => {},
      showWarningMessage: () => {},
      setStatusBarMessage: () => {},
    },
    commands: { registerCommand: (name) => { calls.commands.push(name); return { dispose() {} }; } },
    workspace: { getConfiguration: () => ({ get: (_key, fallback) => fallback }) },
  };
  // vscode-languageclient subclasses VS Code's classes when it loads: any other name is a class.
  const anything = new Proxy(vscode, { get: (target, key) => (key in target ? target[key] : class {}) });
  return { vscode: anything, calls };
}

test("activation registers the commands and says when the server is missing", async () => {
  const { vscode, calls } = stubVscode();
  const resolve = Module._resolveFilename;
  Module._resolveFilename = function (request, ...rest) {
    return request === "vscode" ? "vscode" : resolve.call(this, request, ...rest);
  };
  require.cache.vscode = { id: "vscode", filename: "vscode", loaded: true, exports: vscode };
  const saved = { PATH: process.env.PATH, SCRY_PATH: process.env.SCRY_PATH };
  process.env.PATH = "/nonexistent";
  delete process.env.SCRY_PATH;
  try {
    const extension = require("../out/extension.js");
    await extension.activate({ subscriptions: [], extensionPath: "/nonexistent-extension" });
    assert.deepStrictEqual(calls.commands.sort(), ["scry.findSimilar", "scry.openSearch", "scry.reindexWorkspace", "scry.showStatus"]);
    assert.strictEqual(calls.errors.length, 1);
    assert.match(calls.errors[0], /not found.*cargo install/);
    assert.strictEqual(calls.statusItems[0].text, "$(error) Scry");
    assert.ok(calls.statusItems[0].shown);
  } finally {
    Module._resolveFilename = resolve;
    process.env.PATH = saved.PATH;
    if (saved.SCRY_PATH !== undefined) process.env.SCRY_PATH = saved.SCRY_PATH;
  }
});
