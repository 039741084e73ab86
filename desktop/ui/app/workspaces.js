// @ts-check
// Local workspaces (each a live index), their sync to the account, and the account's
// repositories.

/** @typedef {import('../bindings/WorkspaceView').WorkspaceView} WorkspaceView */
/** @typedef {import('../bindings/WorkspaceProgress').WorkspaceProgress} WorkspaceProgress */
/** @typedef {import('../bindings/SyncView').SyncView} SyncView */
/** @typedef {import('../bindings/SyncPreview').SyncPreview} SyncPreview */
/** @typedef {import('../bindings/SyncProgress').SyncProgress} SyncProgress */
/** @typedef {import('../bindings/SyncEvent').SyncEvent} SyncEvent */
/** @typedef {import('../bindings/LedgerRow').LedgerRow} LedgerRow */
/** @typedef {import('../bindings/RepoView').RepoView} RepoView */

import { $, attempt, button, confirmed, count, el, fail, input, invoke, item, listen, orgs, visible } from './ui.js';

/** @type {Map<string, WorkspaceView>} */
const workspaces = new Map();
/** @type {Map<string, WorkspaceProgress>} */
const indexing = new Map();
/** @type {Map<string, SyncView>} */
const syncs = new Map();
/** @type {Map<string, SyncProgress>} */
const uploading = new Map();
/** The workspace whose sync panel is open. @type {string | null} */
let open = null;
/** Syncs finished per workspace: a `sync_now` answer older than the last one is stale. @type {Map<string, number>} */
const finished = new Map();
/** The panel's latest drawing: one that awaited past a newer one gives way. */
let drawing = 0;

function showWorkspaces() {
  $('workspace-list').replaceChildren(
    ...[...workspaces.values()].map((w) => {
      const p = indexing.get(w.root);
      const doing = w.state === 'indexing' && p ? ` ${p.done}/${p.total} ${p.what}` : '';
      const sync = syncs.get(w.root);
      const synced = sync && sync.state !== 'off' ? ` · sync ${sync.state}${sync.last ? ` (${sync.last})` : ''}` : '';
      const li = item(
        w.root,
        [
          `${w.state}${doing}`,
          count(w.files, 'file'),
          count(w.chunks, 'chunk'),
          w.model,
          w.size && `${w.size} on disk`,
          w.updated && `updated ${w.updated}`,
        ].filter(Boolean).join(' · ') + `${synced}${w.message ? ` · ${w.message}` : ''}`,
      );
      if (w.state === 'indexing' && p && p.total > 0) {
        const bar = /** @type {HTMLProgressElement} */ (el('progress'));
        bar.max = p.total;
        bar.value = p.done;
        bar.setAttribute('aria-label', `Indexing ${w.root}`);
        li.append(' ', bar);
      }
      li.append(
        ' ',
        button('Sync…', `Sync ${w.root}`, () => openSync(w.root)),
        ' ',
        button('Reindex', `Look through ${w.root} again for changes`, () => attempt(() => invoke('reindex_workspace', { root: w.root }))),
        ' ',
        confirmed('Remove', `Remove ${w.root} and its index`, async () => {
          if (await attempt(() => invoke('remove_workspace', { root: w.root, deleteIndex: true })) === undefined) return;
          workspaces.delete(w.root);
          if (open === w.root) closeSync();
          showWorkspaces();
        }),
      );
      return li;
    }),
  );
}

/** @param {string} root */
async function openSync(root) {
  open = root;
  $('sync-panel').hidden = false;
  $('sync-title').textContent = `Sync of ${root}`;
  const view = /** @type {SyncView | undefined} */ (await attempt(() => invoke('sync_state', { root })));
  if (view) await showSync(view);
}

function closeSync() {
  open = null;
  $('sync-panel').hidden = true;
}

/** The sync panel: a preview and the enable form when off; sync now, the ledger and disable
 * when on. @param {SyncView} view */
async function showSync(view) {
  syncs.set(view.root, view);
  showWorkspaces();
  if (open !== view.root) return;
  const mine = ++drawing;
  const body = $('sync-body');
  if (view.state === 'off') {
    const preview = /** @type {SyncPreview | undefined} */ (await attempt(() => invoke('sync_preview', { root: view.root })));
    if (!preview || mine !== drawing) return;
    const excluded = preview.excluded.length
      ? el('ul', '', ...preview.excluded.map((x) => item(x.path, x.why)))
      : el('p', 'No file looks like a secret.');
    excluded.setAttribute('aria-label', 'Never synced');
    const name = /** @type {HTMLInputElement} */ (el('input'));
    name.placeholder = 'the folder or remote name';
    const form = el('form', '', el('label', 'Repository name ', name), ' ');
    const target = orgs.current;
    const enable = /** @type {HTMLButtonElement} */ (el('button', target ? `Enable sync to ${target.name}` : 'Sign in and pick an organisation to sync'));
    enable.type = 'submit';
    enable.disabled = !target;
    form.append(enable);
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      if (!target) return;
      const on = await attempt(() => invoke('enable_sync', { root: view.root, org: target.id, repoName: name.value || null }));
      if (on) await showSync(/** @type {SyncView} */ (on));
      refreshRepos();
    });
    body.replaceChildren(
      el('p', `A first sync would send ${count(preview.files, 'file')}, ${count(preview.chunks, 'chunk')} in ${count(preview.objects, 'sealed object')} (${preview.size}).`),
      el('p', preview.privacy),
      el('h4', 'Never synced (they look like secrets)'),
      excluded,
      form,
    );
    return;
  }
  const p = uploading.get(view.root);
  const status = el('p', `Syncing to ${view.repo_name} of ${orgName(view.org)} on ${view.server}: ${view.state}${view.last ? `, last ${view.last}` : ', never synced yet'}`);
  status.setAttribute('aria-live', 'polite');
  if (view.state === 'syncing' && p && p.total > 0) {
    const bar = /** @type {HTMLProgressElement} */ (el('progress'));
    bar.max = p.total;
    bar.value = p.done;
    bar.setAttribute('aria-label', `Uploading ${view.root}`);
    status.append(' ', bar);
  }
  const now = button('Sync now', `Sync ${view.root} now`, async () => {
    const before = finished.get(view.root) ?? 0;
    const started = await attempt(() => invoke('sync_now', { root: view.root }));
    // A fast sync may have ended (and been drawn) before its start is answered.
    if (started && (finished.get(view.root) ?? 0) === before) await showSync(/** @type {SyncView} */ (started));
  });
  now.disabled = view.state === 'syncing';
  const stop = confirmed('Stop syncing', `Stop syncing ${view.root} (the account keeps its copy)`, async () => {
    const off = await attempt(() => invoke('disable_sync', { root: view.root, deleteRemote: false }));
    if (off) await showSync(/** @type {SyncView} */ (off));
  });
  const rows = /** @type {LedgerRow[] | undefined} */ (await attempt(() => invoke('sync_ledger', { root: view.root }))) ?? [];
  if (mine !== drawing) return;
  const ledger = el('table', '',
    el('caption', 'What left this machine'),
    el('thead', '', el('tr', '', ...['When', 'Branch', 'Generation', 'Objects', 'Sent', 'Files', 'Excluded'].map((h) => el('th', h)))),
    el('tbody', '', ...rows.map((r) => el('tr', '', ...[r.at, r.line, String(r.generation), String(r.objects), r.sent, String(r.files), String(r.excluded)].map((c) => el('td', c))))),
  );
  body.replaceChildren(status, now, ' ', stop, ledger);
}

/** @param {string | null} id */
function orgName(id) {
  return orgs.all.find((o) => o.id === id)?.name ?? id ?? '';
}

/** Reloads the account's repositories (shown when the screen opens). */
export async function refreshRepos() {
  const org = orgs.current;
  if (!org) {
    $('repo-list').replaceChildren(item('Sign in to see the account’s repositories.'));
    return;
  }
  try {
    const repos = /** @type {RepoView[]} */ (await invoke('account_repos', { org: org.id }));
    const admin = org.role === 'admin' || org.role === 'owner';
    $('repo-list').replaceChildren(
      ...repos.map((r) => {
        const li = item(
          r.name,
          [
            count(r.chunks, 'chunk'),
            r.generation === null ? 'never synced' : `generation ${r.generation}, last synced ${r.last_sync}`,
            r.linked ? `linked to ${r.linked}` : 'not on this machine',
            r.hosted_search
              ? `hosted search on (${r.hosted_search}): the service keeps its code readable to search it`
              : 'hosted search off: the service holds only sealed objects',
          ].join(' · '),
        );
        if (admin) li.append(' ', hostedSwitch(org.id, r));
        return li;
      }),
    );
    if (repos.length === 0) $('repo-list').replaceChildren(item(`${org.name} has no repositories yet.`));
  } catch (e) {
    $('repo-list').replaceChildren(item('The account cannot be reached; local workspaces still work.'));
    fail(e);
  }
}

/** Hosted search on or off for a repository (admins), asked twice: on sends readable code.
 * @param {string} org @param {RepoView} repo */
function hostedSwitch(org, repo) {
  const [text, label, branch] = repo.hosted_search
    ? ['Turn hosted search off', `Turn hosted search off for ${repo.name}: the service deletes its readable code`, null]
    : ['Turn hosted search on', `Turn hosted search on for ${repo.name}: syncs of main then send its code readable by the service`, 'main'];
  return confirmed(text, label, async () => {
    await attempt(() => invoke('set_hosted_search', { org, repo: repo.id, branch }));
    await refreshRepos();
  });
}

$('workspace-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const view = /** @type {WorkspaceView | undefined} */ (await attempt(() => invoke('add_workspace', { path: input('workspace-path').value })));
  if (!view) return;
  workspaces.set(view.root, view);
  input('workspace-path').value = '';
  showWorkspaces();
});

listen('workspace', (event) => {
  const view = /** @type {WorkspaceView} */ (event.payload);
  workspaces.set(view.root, view);
  showWorkspaces();
});

listen('workspace-progress', (event) => {
  const p = /** @type {WorkspaceProgress} */ (event.payload);
  indexing.set(p.root, p);
  showWorkspaces();
});

listen('sync-progress', (event) => {
  const p = /** @type {SyncProgress} */ (event.payload);
  uploading.set(p.root, p);
  const view = syncs.get(p.root);
  if (view && open === p.root) showSync(view);
});

listen('sync', (event) => {
  const done = /** @type {SyncEvent} */ (event.payload);
  uploading.delete(done.view.root);
  finished.set(done.view.root, (finished.get(done.view.root) ?? 0) + 1);
  if (done.outcome === 'failed') fail(done.error);
  showSync(done.view);
  refreshRepos();
});

listen('warning', (event) => fail({ message: String(event.payload) }));

orgs.watch(() => {
  if (!visible('workspaces')) return;
  refreshRepos();
  if (open) openSync(open);
});

/** Loads the open workspaces and their sync states. */
export async function loadWorkspaces() {
  for (const view of /** @type {WorkspaceView[]} */ (await invoke('workspaces'))) {
    workspaces.set(view.root, view);
    const sync = /** @type {SyncView | undefined} */ (await attempt(() => invoke('sync_state', { root: view.root })));
    if (sync) syncs.set(view.root, sync);
  }
  showWorkspaces();
}
