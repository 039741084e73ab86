// @ts-check
// The page: it shows what the commands answer and calls them; everything else (the account,
// sync, indexes, search) happens in Rust. Types come from ../bindings, generated from the
// Rust definitions (`cargo test -p scry-desktop --test bindings` checks they are current).

/** @typedef {import('../bindings/AccountStatus').AccountStatus} AccountStatus */
/** @typedef {import('../bindings/CommandError').CommandError} CommandError */
/** @typedef {import('../bindings/DeviceStart').DeviceStart} DeviceStart */
/** @typedef {import('../bindings/OrgView').OrgView} OrgView */
/** @typedef {import('../bindings/SearchHit').SearchHit} SearchHit */
/** @typedef {import('../bindings/SignInEvent').SignInEvent} SignInEvent */
/** @typedef {import('../bindings/WorkspaceProgress').WorkspaceProgress} WorkspaceProgress */
/** @typedef {import('../bindings/WorkspaceView').WorkspaceView} WorkspaceView */

const { invoke } = window.__TAURI__.core;
const { listen } = window.__TAURI__.event;

/** @param {string} id */
function $(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} is missing`);
  return el;
}

/** @param {string} id */
function input(id) {
  return /** @type {HTMLInputElement} */ ($(id));
}

/** Shows a command's error in the banner, in its own words.
 * @param {unknown} e */
function fail(e) {
  const error = /** @type {CommandError} */ (e);
  const banner = $('banner');
  banner.textContent = error && error.message ? error.message : String(e);
  banner.hidden = false;
}

function clearBanner() {
  $('banner').hidden = true;
}

/** @param {AccountStatus} status */
function showAccount(status) {
  $('server').textContent = status.server;
  const signedIn = status.email !== null;
  $('account').textContent = signedIn ? `${status.email} on ${status.server}` : `Signed out (${status.server})`;
  $('sign-out').hidden = !signedIn;
  $('sign-in').hidden = signedIn;
  $('orgs').hidden = !signedIn;
  $('device').hidden = true;
  const list = $('org-list');
  list.replaceChildren(
    ...status.orgs.map((org) => item(`${org.name}`, `${org.role} · ${org.tier}`)),
  );
}

/** @param {string} text @param {string} [note] */
function item(text, note) {
  const li = document.createElement('li');
  li.textContent = text;
  if (note) {
    const span = document.createElement('span');
    span.className = 'state';
    span.textContent = note;
    li.append(span);
  }
  return li;
}

/** @type {Map<string, WorkspaceView>} */
const workspaces = new Map();
/** @type {Map<string, WorkspaceProgress>} */
const progress = new Map();

function showWorkspaces() {
  const list = $('workspace-list');
  list.replaceChildren(
    ...[...workspaces.values()].map((w) => {
      const p = progress.get(w.root);
      const doing = w.state === 'indexing' && p ? ` ${p.done}/${p.total} ${p.what}` : '';
      const li = item(w.root, `${w.state}${doing} · ${w.files} files · ${w.chunks} chunks${w.message ? ` · ${w.message}` : ''}`);
      const remove = document.createElement('button');
      remove.type = 'button';
      remove.textContent = 'Remove';
      remove.setAttribute('aria-label', `Remove ${w.root} and its index`);
      remove.addEventListener('click', async () => {
        try {
          await invoke('remove_workspace', { root: w.root, deleteIndex: true });
          workspaces.delete(w.root);
          showWorkspaces();
        } catch (e) {
          fail(e);
        }
      });
      li.append(' ', remove);
      return li;
    }),
  );
}

/** @param {SearchHit[]} hits */
function showResults(hits) {
  const list = $('results');
  if (hits.length === 0) {
    list.replaceChildren(item('No results.'));
    return;
  }
  list.replaceChildren(
    ...hits.map((hit) => {
      const li = item(`${hit.path}:${hit.start_line}-${hit.end_line}`, hit.symbol ?? '');
      const pre = document.createElement('pre');
      pre.textContent = hit.snippet;
      li.append(pre);
      return li;
    }),
  );
}

async function refreshAccount() {
  try {
    showAccount(/** @type {AccountStatus} */ (await invoke('account_status')));
    clearBanner();
  } catch (e) {
    fail(e);
    $('sign-in').hidden = false;
  }
}

$('device-start').addEventListener('click', async () => {
  try {
    const start = /** @type {DeviceStart} */ (await invoke('start_device_sign_in'));
    const link = /** @type {HTMLAnchorElement} */ ($('device-link'));
    link.href = start.verification_uri_complete;
    link.textContent = start.verification_uri;
    $('device-code').textContent = start.user_code;
    $('device-state').textContent = 'Waiting for the approval…';
    $('device').hidden = false;
  } catch (e) {
    fail(e);
  }
});

$('password-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  try {
    const status = await invoke('sign_in_with_password', {
      email: input('email').value,
      password: input('password').value,
    });
    input('password').value = '';
    showAccount(/** @type {AccountStatus} */ (status));
    clearBanner();
  } catch (e) {
    fail(e);
  }
});

$('sign-out').addEventListener('click', async () => {
  try {
    showAccount(/** @type {AccountStatus} */ (await invoke('sign_out')));
  } catch (e) {
    fail(e);
  }
});

$('org-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  try {
    await invoke('create_org', { name: input('org-name').value });
    input('org-name').value = '';
    await refreshAccount();
  } catch (e) {
    fail(e);
  }
});

$('workspace-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  try {
    const view = /** @type {WorkspaceView} */ (
      await invoke('add_workspace', { path: input('workspace-path').value })
    );
    workspaces.set(view.root, view);
    input('workspace-path').value = '';
    showWorkspaces();
    clearBanner();
  } catch (e) {
    fail(e);
  }
});

$('search-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  try {
    showResults(/** @type {SearchHit[]} */ (await invoke('search', { query: input('query').value, limit: 20 })));
  } catch (e) {
    fail(e);
  }
});

listen('sign-in', (event) => {
  const outcome = /** @type {SignInEvent} */ (event.payload);
  if (outcome.outcome === 'signed_in') {
    refreshAccount();
  } else {
    $('device-state').textContent = outcome.error.message;
  }
});

listen('workspace', (event) => {
  const view = /** @type {WorkspaceView} */ (event.payload);
  workspaces.set(view.root, view);
  showWorkspaces();
});

listen('workspace-progress', (event) => {
  const p = /** @type {WorkspaceProgress} */ (event.payload);
  progress.set(p.root, p);
  showWorkspaces();
});

listen('warning', (event) => fail({ message: String(event.payload) }));

for (const view of /** @type {WorkspaceView[]} */ (await invoke('workspaces'))) {
  workspaces.set(view.root, view);
}
showWorkspaces();
await refreshAccount();

export {};
