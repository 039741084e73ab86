// What the extension decides, free of the `vscode` module so plain Node tests can run it.
import * as fs from "fs";
import * as path from "path";

/** One result of `scry/search` or `scry/similar` (docs/lsp-extensions.md). */
export interface SearchResult {
  /** `null` for an org-wide result in a repository not checked out here. */
  uri: string | null;
  /** Org-wide results: the repository (`path` lies inside it). */
  repo?: string;
  range: { start: { line: number; character: number }; end: { line: number; character: number } };
  score: number;
  symbol: string | null;
  kind: string;
  language: string;
  path: string;
  snippet: string;
  /** The file's other matching chunks, best first (results by file). */
  more?: Array<{ range: SearchResult["range"]; score: number; symbol: string | null }>;
}

/** A workspace's index, from `scry/status` or `scry/indexStatus`. */
export interface WorkspaceStatus {
  root: string;
  state: "opening" | "indexing" | "ready" | "failed";
  index: string;
  files: number;
  chunks: number;
  vectors: number;
  model: string | null;
  buffers: number;
  message: string | null;
}

/** A workspace's background sync, from `scry/syncStatus` or `sync` in `scry/status`. */
export interface SyncStatus {
  root: string;
  state: "syncing" | "synced" | "offline" | "failed";
  generation: number | null;
  objectsUploaded: number;
  bytesUploaded: number;
  message: string | null;
}

export interface Settings {
  serverPath: string;
  model: string;
  exclude: string[];
  limit: number;
}

export type Found = { path: string; source: string } | { error: string };

/**
 * Where the server is: `SCRY_PATH`, the `scry.server.path` setting, a binary bundled in the
 * extension (`bin/scry`), then `scry` on PATH.
 */
export function findServer(
  env: NodeJS.ProcessEnv,
  settingPath: string,
  extensionDir: string,
  isFile: (p: string) => boolean = (p) => fs.existsSync(p) && fs.statSync(p).isFile(),
): Found {
  const candidates: Array<[string | undefined, string]> = [
    [env.SCRY_PATH, "SCRY_PATH"],
    [settingPath, "the scry.server.path setting"],
  ];
  for (const [candidate, source] of candidates) {
    if (!candidate) continue;
    if (isFile(candidate)) return { path: candidate, source };
    return { error: `${source} names ${candidate}, which is not a file` };
  }
  const bundled = path.join(extensionDir, "bin", process.platform === "win32" ? "scry.exe" : "scry");
  if (isFile(bundled)) return { path: bundled, source: "the extension" };
  for (const dir of (env.PATH ?? "").split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, "scry");
    if (isFile(candidate)) return { path: candidate, source: "PATH" };
  }
  return {
    error:
      "Scry's server (`scry`) was not found: install it (`cargo install --path lsp` in a Scry checkout), " +
      "put it on PATH, or set scry.server.path",
  };
}

/** The server's settings (its `initializationOptions` and `didChangeConfiguration`). */
export function serverSettings(s: Settings): Record<string, unknown> {
  const out: Record<string, unknown> = { exclude: s.exclude, limit: s.limit };
  if (s.model) out.model = s.model;
  return out;
}

export interface Item {
  label: string;
  description: string;
  detail: string;
  result: SearchResult;
}

/**
 * QuickPick entries: the symbol (or first line), where it is, the first line of code; under
 * each file, its other matching places, indented.
 */
export function toItems(results: SearchResult[]): Item[] {
  return results.flatMap((r) => {
    const firstLine = r.snippet.split("\n").find((l) => l.trim() !== "")?.trim() ?? "";
    const best: Item = {
      label: `$(${icon(r.kind)}) ${r.symbol ?? firstLine}`,
      description: `${r.repo ? `${r.repo}: ` : ""}${r.path}:${r.range.start.line + 1}`,
      detail: r.symbol ? firstLine : r.kind,
      result: r,
    };
    const more = (r.more ?? []).map((m) => ({
      label: `$(blank) $(arrow-small-right) ${m.symbol ?? `line ${m.range.start.line + 1}`}`,
      description: `${r.path}:${m.range.start.line + 1}`,
      detail: "",
      result: { ...r, range: m.range, score: m.score, symbol: m.symbol, more: [] },
    }));
    return [best, ...more];
  });
}

function icon(kind: string): string {
  switch (kind) {
    case "function":
    case "method":
    case "macro":
      return "symbol-method";
    case "class":
    case "struct":
    case "impl":
      return "symbol-class";
    case "enum":
      return "symbol-enum";
    case "interface":
      return "symbol-interface";
    case "module":
      return "symbol-namespace";
    case "section":
      return "symbol-key";
    default:
      return "symbol-misc";
  }
}

/** The status bar's text and tooltip for the workspaces' states and their syncs. */
export function statusText(
  statuses: WorkspaceStatus[],
  syncs: SyncStatus[] = [],
): { text: string; tooltip: string } {
  if (statuses.length === 0) return { text: "$(search) Scry", tooltip: "Scry: no workspace folder" };
  const failed = statuses.find((s) => s.state === "failed");
  const busy = statuses.find((s) => s.state === "indexing" || s.state === "opening");
  const chunks = statuses.reduce((n, s) => n + s.chunks, 0);
  const tooltip = statuses
    .map((s) => `${s.root}: ${s.state}, ${s.files} files, ${s.chunks} chunks, model ${s.model ?? "none"}` +
      (s.message ? `\n${s.message}` : ""))
    .concat(syncs.map((s) => `${s.root}: sync ${s.state}` +
      (s.generation !== null ? `, generation ${s.generation}` : "") + (s.message ? `\n${s.message}` : "")))
    .join("\n");
  if (failed) return { text: "$(error) Scry", tooltip };
  if (busy) return { text: "$(sync~spin) Scry: indexing", tooltip };
  const text = `$(search) Scry: ${chunks.toLocaleString("en")} chunks`;
  return { text: text + syncBadge(syncs), tooltip };
}

/** How the syncs stand, in a few characters: the worst of them first. */
function syncBadge(syncs: SyncStatus[]): string {
  if (syncs.some((s) => s.state === "failed")) return " $(cloud) sync failed";
  if (syncs.some((s) => s.state === "offline")) return " $(cloud) offline";
  if (syncs.some((s) => s.state === "syncing")) return " $(cloud-upload) syncing";
  return syncs.length > 0 ? " $(cloud) synced" : "";
}

/** Where `scry/search` looks: the open folders, or every synced repository of their org. */
export type Scope = "workspace" | "org";

/** The search box's scope button while searching `scope`: what it shows and says. */
export function scopeToggle(scope: Scope): { icon: string; tooltip: string; title: string } {
  return scope === "workspace"
    ? { icon: "repo", tooltip: "Search every synced repository of the org", title: "Scry: this workspace" }
    : { icon: "organization", tooltip: "Search this workspace only", title: "Scry: the whole org" };
}
