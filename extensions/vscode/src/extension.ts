// Scry in VS Code: starts `scry lsp` through vscode-languageclient and gives it a search box,
// a similar-code peek, a status bar item and commands.
import * as vscode from "vscode";
import { LanguageClient, LanguageClientOptions, ServerOptions } from "vscode-languageclient/node";

import {
  SearchResult,
  Settings,
  SyncStatus,
  WorkspaceStatus,
  findServer,
  Scope,
  scopeToggle,
  serverSettings,
  statusText,
  toItems,
} from "./logic";

let client: LanguageClient | undefined;
const statuses = new Map<string, WorkspaceStatus>();
const syncs = new Map<string, SyncStatus>();

function settings(): Settings {
  const c = vscode.workspace.getConfiguration("scry");
  return {
    serverPath: c.get<string>("server.path", ""),
    model: c.get<string>("model", ""),
    exclude: c.get<string[]>("exclude", []),
    limit: c.get<number>("limit", 30),
  };
}

// The extension's command ids differ from the server's (`scry.search`, `scry.similar`,
// `scry.reindex`), which vscode-languageclient registers itself for code actions.
export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const status = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Left, 50);
  status.command = "scry.showStatus";
  status.text = "$(sync~spin) Scry";
  status.show();
  context.subscriptions.push(status);
  const showStatus = () => {
    const s = statusText([...statuses.values()], [...syncs.values()]);
    status.text = s.text;
    status.tooltip = s.tooltip;
  };

  context.subscriptions.push(
    vscode.commands.registerCommand("scry.openSearch", () => search()),
    vscode.commands.registerCommand("scry.findSimilar", () => findSimilar()),
    vscode.commands.registerCommand("scry.reindexWorkspace", async () => {
      await running().sendRequest("workspace/executeCommand", { command: "scry.reindex" });
      vscode.window.setStatusBarMessage("Scry: reindexing", 3000);
    }),
    vscode.commands.registerCommand("scry.showStatus", async () => {
      const result = await running().sendRequest<{ workspaces: WorkspaceStatus[]; sync: SyncStatus[] }>(
        "scry/status",
      );
      result.workspaces.forEach((w) => statuses.set(w.root, w));
      result.sync.forEach((s) => syncs.set(s.root, s));
      showStatus();
      const text = statusText(result.workspaces, result.sync).tooltip;
      vscode.window.showInformationMessage(text, { modal: false });
    }),
  );

  const found = findServer(process.env, settings().serverPath, context.extensionPath);
  if ("error" in found) {
    status.text = "$(error) Scry";
    status.tooltip = found.error;
    vscode.window.showErrorMessage(found.error);
    return;
  }
  const serverOptions: ServerOptions = { command: found.path, args: ["lsp"] };
  const clientOptions: LanguageClientOptions = {
    documentSelector: [{ scheme: "file" }, { scheme: "untitled" }],
    initializationOptions: serverSettings(settings()),
    outputChannelName: "Scry",
  };
  client = new LanguageClient("scry", "Scry", serverOptions, clientOptions);
  context.subscriptions.push(
    client.onNotification("scry/indexStatus", (s: WorkspaceStatus) => {
      statuses.set(s.root, s);
      showStatus();
    }),
    client.onNotification("scry/syncStatus", (s: SyncStatus) => {
      syncs.set(s.root, s);
      showStatus();
    }),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration("scry") && client) {
        client.sendNotification("workspace/didChangeConfiguration", {
          settings: { scry: serverSettings(settings()) },
        });
      }
    }),
  );
  await client.start();
  context.subscriptions.push(client);
  showStatus();
}

export async function deactivate(): Promise<void> {
  await client?.stop();
}

function running(): LanguageClient {
  if (!client) throw new Error("Scry's server is not running (see the Scry output)");
  return client;
}

function toLocation(r: SearchResult & { uri: string }): vscode.Location {
  const range = new vscode.Range(r.range.start.line, r.range.start.character, r.range.end.line, r.range.end.character);
  return new vscode.Location(vscode.Uri.parse(r.uri), range);
}

async function open(r: SearchResult, preview: boolean): Promise<void> {
  if (r.uri === null) {
    // An org-wide result in a repository not checked out here: nothing to open.
    if (!preview) vscode.window.showInformationMessage(`Scry: ${r.path} is in ${r.repo}, which is not checked out here`);
    return;
  }
  const location = toLocation({ ...r, uri: r.uri });
  await vscode.window.showTextDocument(location.uri, {
    selection: new vscode.Range(location.range.start, location.range.start),
    preview,
    preserveFocus: preview,
  });
}

/** A QuickPick that searches as you type; semantic hits stay visible (`alwaysShow`). */
async function search(): Promise<void> {
  const c = running();
  const pick = vscode.window.createQuickPick<vscode.QuickPickItem & { result: SearchResult }>();
  pick.placeholder = "Describe the code (\"retry failed uploads\") or name it";
  pick.matchOnDescription = false;
  pick.matchOnDetail = false;
  // The scope toggle: this workspace, or every synced repository of its org.
  let scope: Scope = "workspace";
  const toggle = () => {
    const next = scopeToggle(scope);
    pick.buttons = [{ iconPath: new vscode.ThemeIcon(next.icon), tooltip: next.tooltip }];
    pick.title = next.title;
  };
  toggle();
  pick.onDidTriggerButton(() => {
    scope = scope === "workspace" ? "org" : "workspace";
    toggle();
    run(pick.value);
  });
  let serial = 0;
  let timer: NodeJS.Timeout | undefined;
  const run = (query: string) => {
    if (timer) clearTimeout(timer);
    if (!query.trim()) {
      pick.items = [];
      return;
    }
    timer = setTimeout(async () => {
      const mine = ++serial;
      pick.busy = true;
      try {
        const results = await c.sendRequest<SearchResult[]>("scry/search", { query, limit: settings().limit, scope });
        if (mine !== serial) return;
        pick.items = toItems(results).map((i) => ({ ...i, alwaysShow: true }));
      } catch (e) {
        if (mine === serial) pick.items = [];
        vscode.window.setStatusBarMessage(`Scry: ${(e as Error).message}`, 5000);
      } finally {
        if (mine === serial) pick.busy = false;
      }
    }, 120);
  };
  pick.onDidChangeValue(run);
  pick.onDidChangeActive((items) => {
    if (items[0]) void open(items[0].result, true);
  });
  pick.onDidAccept(() => {
    const chosen = pick.selectedItems[0];
    pick.hide();
    if (chosen) void open(chosen.result, false);
  });
  pick.onDidHide(() => pick.dispose());
  pick.show();
}

/** Code like the selection (or the definition at the cursor), in a references peek. */
async function findSimilar(): Promise<void> {
  const editor = vscode.window.activeTextEditor;
  if (!editor) {
    vscode.window.showWarningMessage("Scry: open a file and select code (or put the cursor in a function)");
    return;
  }
  const sel = editor.selection;
  const range = sel.isEmpty
    ? { start: { line: sel.active.line, character: 0 }, end: { line: sel.active.line, character: 0 } }
    : { start: { line: sel.start.line, character: 0 }, end: { line: sel.end.line + 1, character: 0 } };
  const results = await running().sendRequest<SearchResult[]>("scry/similar", {
    textDocument: { uri: editor.document.uri.toString() },
    range,
    limit: settings().limit,
  });
  if (results.length === 0) {
    vscode.window.showInformationMessage("Scry: no similar code found");
    return;
  }
  await vscode.commands.executeCommand(
    "editor.action.peekLocations",
    editor.document.uri,
    sel.active,
    // Similar code is always in an open folder: every result has a URI.
    results.flatMap((r) => (r.uri === null ? [] : [toLocation({ ...r, uri: r.uri })])),
    "peek",
  );
}
