// The page in a DOM (jsdom) with Tauri's IPC mocked: what each screen shows for what the
// commands answer, and which commands it calls with what. The commands themselves are tested
// in Rust (desktop/tests/commands.rs); the real app end to end in desktop/e2e.
//   npm test

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { JSDOM } from 'jsdom';

const html = readFileSync(new URL('../app/index.html', import.meta.url), 'utf8');
const dom = new JSDOM(html, { url: 'http://localhost/' });
const { window } = dom;
const { document } = window;
Object.assign(globalThis, { window, document, Event: window.Event, navigator: window.navigator });

/** The commands called, in order: [name, args]. @type {[string, any][]} */
const calls = [];
/** @type {Record<string, (args: any) => any>} */
const answers = {
  account_status: () => signedOut,
  workspaces: () => [],
  members: () => [{ user_id: 'usr_1', email: 'ann@example.com', role: 'owner', joined: '2026-12-07 04:00 UTC' }],
  invitations: () => [],
  data_key: () => ({ fingerprint: 'abcd-ef01', epoch: 1, kept: 'keyring', recovery_written: false, devices: [] }),
  api_keys: () => [],
  account_repos: () => [],
  plan: () => plan,
  audit: () => ({ entries: [], next: null }),
  settings: () => ({ server: '', editor: '', model: '', exclude: [], start_at_login: false, pause_sync: false }),
};
/** @type {Record<string, ((e: {payload: unknown}) => void)[]>} */
const listeners = {};
window.__TAURI__ = {
  core: {
    invoke: async (cmd, args = {}) => {
      calls.push([cmd, args]);
      const answer = answers[cmd];
      if (!answer) throw { code: 'not_mocked', message: `${cmd} is not mocked` };
      return answer(args);
    },
  },
  event: {
    listen: async (name, handler) => {
      (listeners[name] ??= []).push(handler);
      return () => {};
    },
  },
};

const signedOut = { server: 'http://127.0.0.1:8787', email: null, orgs: [], credential: null };
const acme = { id: 'org_1', name: 'acme', tier: 'free', role: 'owner' };
const signedIn = { server: 'http://127.0.0.1:8787', email: 'ann@example.com', orgs: [acme], credential: 'keyring' };
const plan = {
  tier: 'free',
  quotas: [
    { what: 'repositories', used: 3, limit: 3, at_limit: 'a new repository is refused' },
    { what: 'chunks', used: 2, limit: 10000, at_limit: 'a sync that would add chunks is refused' },
    { what: 'requests per minute', used: null, limit: 10, at_limit: 'requests wait' },
  ],
  days: Array.from({ length: 30 }, (_, i) => ({ day: `2026-11-${String(i + 1).padStart(2, '0')}`, requests: i })),
};

/** Lets the page's promises and timers run. */
async function settle() {
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setTimeout(resolve, 0));
}

/** @param {string} id */
const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));
/** @param {string} id @param {string} value */
function fill(id, value) {
  /** @type {HTMLInputElement} */ ($(id)).value = value;
}
/** @param {string} id */
async function submit(id) {
  /** @type {HTMLFormElement} */ ($(id)).requestSubmit();
  await settle();
}
/** @param {string} name */
async function screen(name) {
  /** @type {HTMLElement} */ (document.querySelector(`nav button[data-screen="${name}"]`)).click();
  await settle();
}
/** @param {string} name @param {unknown} payload */
function emit(name, payload) {
  for (const handler of listeners[name] ?? []) handler({ payload });
}
const called = (/** @type {string} */ cmd) => calls.filter(([c]) => c === cmd).map(([, args]) => args);

await import('../app/app.js');
await settle();

test('signed out, the sign-in screen shows and the local screens work', () => {
  assert.equal($('sign-in').hidden, false);
  assert.equal($('account').textContent, 'Signed out (http://127.0.0.1:8787)');
  assert.equal($('org-picker').hidden, true);
  assert.deepEqual(called('workspaces'), [{}]);
});

test('signing in with a password shows the account, where the session is, and its orgs', async () => {
  answers.sign_in_with_password = () => signedIn;
  answers.account_status = () => signedIn;
  fill('email', 'ann@example.com');
  fill('password', 'correct horse battery');
  await submit('password-form');
  assert.deepEqual(called('sign_in_with_password'), [{ email: 'ann@example.com', password: 'correct horse battery' }]);
  assert.equal(/** @type {HTMLInputElement} */ ($('password')).value, '', 'the password does not stay in the form');
  assert.equal($('sign-in').hidden, true);
  assert.match($('account').textContent ?? '', /ann@example.com on .* \(session in the keyring\)/);
  assert.equal($('org-select').textContent, 'acme (owner, free)');
  assert.equal($('org-picker').hidden, false);
  // Only the screen shown loads: the others ask the account when they open (rate limits).
  for (const cmd of ['members', 'api_keys', 'plan', 'account_repos', 'data_key']) assert.deepEqual(called(cmd), [], cmd);
});

test("a command's error shows in its own words", async () => {
  answers.create_org = () => {
    throw { code: 'quota_exceeded', message: 'quota exceeded: ask for a larger tier', retry_after_s: null };
  };
  await screen('org');
  fill('org-name', 'second');
  await submit('org-form');
  assert.equal($('banner').hidden, false);
  assert.equal($('banner').textContent, 'quota exceeded: ask for a larger tier');
});

test('offline, the banner says so and offers to try again', async () => {
  answers.members = () => {
    throw { code: 'offline', message: 'cannot reach http://127.0.0.1:8787: check the server address and the network', retry_after_s: null };
  };
  await screen('org');
  assert.match($('banner').textContent ?? '', /cannot reach .*check the server/);
  const again = /** @type {HTMLElement} */ ($('banner').querySelector('button'));
  assert.equal(again.textContent, 'Try again');
  answers.members = () => [{ user_id: 'usr_1', email: 'ann@example.com', role: 'owner', joined: '2026-12-07 04:00 UTC' }];
  const before = called('members').length;
  again.click();
  await settle();
  assert.ok(called('members').length > before, 'the screen asked again');
  assert.equal($('banner').hidden, true);
  assert.match($('member-list').textContent ?? '', /ann@example.com/);
});

test('search results open in the editor: the first has the focus, Enter or a click opens it', async () => {
  answers.search = () => [
    { root: '/src/app', repo: null, path: 'src/upload.py', start_line: 1, end_line: 4, symbol: 'retry_upload', score: 0.9, snippet: 'def retry_upload(path):',
      more: [{ start_line: 20, end_line: 31, symbol: 'backoff' }] },
    { root: '/src/app', repo: null, path: 'src/render.rs', start_line: 1, end_line: 3, symbol: null, score: 0.4, snippet: 'pub fn render()', more: [] },
  ];
  answers.open_result = () => null;
  await screen('search');
  fill('query', 'retry the upload');
  await submit('search-form');
  assert.deepEqual(called('search').at(-1), { query: 'retry the upload', limit: 20 });
  const results = [...document.querySelectorAll('#results button.result')];
  assert.equal(results.length, 2);
  assert.equal(document.activeElement, results[0]);
  assert.equal(results[0].getAttribute('aria-label'), 'Open src/upload.py at line 1');
  /** @type {HTMLElement} */ (results[1]).click();
  await settle();
  assert.deepEqual(called('open_result'), [{ root: '/src/app', path: 'src/render.rs', line: 1 }]);
  assert.match($('search-note').textContent ?? '', /^2 results in \d+ ms$/);
  // A file's other matches are listed under it, each opening the file at its place.
  const also = [...document.querySelectorAll('#results .also button')];
  assert.deepEqual(also.map((b) => b.textContent), ['20 backoff']);
  /** @type {HTMLElement} */ (also[0]).click();
  await settle();
  assert.deepEqual(called('open_result').at(-1), { root: '/src/app', path: 'src/upload.py', line: 20 });
});

test('a whole-org search names each repository and opens only what is checked out here', async () => {
  answers.search_org = () => [
    { root: '', repo: 'geo', path: 'geo/area.py', start_line: 1, end_line: 2, symbol: 'circle_area', score: 0.8, snippet: 'def circle_area(radius):',
      more: [{ start_line: 9, end_line: 12, symbol: 'square_area' }] },
    { root: '/src/app', repo: 'web', path: 'src/upload.py', start_line: 1, end_line: 4, symbol: 'retry_upload', score: 0.5, snippet: 'def retry_upload(path):', more: [] },
  ];
  answers.open_result = () => null;
  await screen('search');
  fill('query', 'area of a circle');
  /** @type {HTMLInputElement} */ ($('search-org')).checked = true;
  await submit('search-form');
  assert.deepEqual(called('search_org').at(-1), { query: 'area of a circle', limit: 20 });
  const items = [...document.querySelectorAll('#results li')];
  assert.match(items[0].textContent ?? '', /geo\/geo\/area\.py:1-2/);
  assert.match(items[0].textContent ?? '', /def circle_area\(radius\):/);
  assert.equal(items[0].querySelector('button'), null, 'not checked out here: nothing to open');
  const open = /** @type {HTMLElement} */ (items[1].querySelector('button.result'));
  open.click();
  await settle();
  assert.deepEqual(called('open_result').at(-1), { root: '/src/app', path: 'src/upload.py', line: 1 });
  /** @type {HTMLInputElement} */ ($('search-org')).checked = false;
});

test('an API key is shown once with a warning, and revoking asks first', async () => {
  const key = { id: 'key_1', name: 'ci', role: 'member', prefix: 'scry_live_Ab', created: '2026-12-07 04:00 UTC', last_used: 'never' };
  answers.create_api_key = () => ({ key, secret: 'scry_live_AbCdEf_123456' });
  answers.api_keys = () => [key];
  answers.revoke_api_key = () => null;
  await screen('keys');
  fill('key-name', 'ci');
  await submit('key-form');
  assert.deepEqual(called('create_api_key'), [{ org: 'org_1', name: 'ci', role: 'member' }]);
  assert.equal(document.querySelector('#key-secret code')?.textContent, 'scry_live_AbCdEf_123456');
  assert.match($('key-secret').textContent ?? '', /only time/);
  const revoke = /** @type {HTMLElement} */ (document.querySelector('button[aria-label="Revoke the key ci"]'));
  revoke.click();
  await settle();
  assert.deepEqual(called('revoke_api_key'), [], 'the first press only asks');
  assert.equal(revoke.textContent, 'Confirm: revoke');
  revoke.click();
  await settle();
  assert.deepEqual(called('revoke_api_key'), [{ org: 'org_1', key: 'key_1' }]);
});

test('quotas are meters against the limits, requests per day a chart', async () => {
  await screen('usage');
  const meters = [...document.querySelectorAll('#quota-list meter')].map((m) => [/** @type {HTMLMeterElement} */ (m).value, /** @type {HTMLMeterElement} */ (m).max]);
  assert.deepEqual(meters, [[3, 3], [2, 10000]]);
  assert.match($('quota-list').textContent ?? '', /repositories: 3 of 3/);
  assert.match($('quota-list').textContent ?? '', /requests per minute: up to 10/);
  assert.equal(document.querySelectorAll('#chart rect').length, 30);
  assert.equal(document.querySelector('#chart svg')?.getAttribute('aria-label'), '435 requests in 30 days, at most 29 a day');
});

test('a sync preview says what leaves and what never does before enabling', async () => {
  answers.workspaces = () => [];
  answers.sync_state = ({ root }) => ({ root, state: 'off', repo_name: null, org: null, server: null, last: null });
  answers.sync_preview = () => ({ files: 2, chunks: 1, objects: 5, size: '1.2 kB', excluded: [{ path: 'secrets.yaml', why: 'a credentials file' }], privacy: 'Paths leave sealed.' });
  answers.add_workspace = ({ path }) => ({ root: path, state: 'indexing', files: 0, chunks: 0, model: null, message: null, updated: null, size: null });
  await screen('workspaces');
  fill('workspace-path', '/src/app');
  await submit('workspace-form');
  emit('workspace', { root: '/src/app', state: 'ready', files: 1, chunks: 1, model: 'static', message: null, updated: '3 s ago', size: '1.2 MB' });
  await settle();
  assert.match($('workspace-list').textContent ?? '', /ready · 1 file · 1 chunk · static · 1\.2 MB on disk · updated 3 s ago/);
  /** @type {HTMLElement} */ (document.querySelector('button[aria-label="Sync /src/app"]')).click();
  await settle();
  const panel = $('sync-body').textContent ?? '';
  assert.match(panel, /A first sync would send 2 files, 1 chunk in 5 sealed objects \(1\.2 kB\)/);
  assert.match(panel, /secrets\.yaml/);
  assert.match(panel, /Enable sync to acme/);
});

test('hosted search is switched per repository by admins, said readable before it is on', async () => {
  let hosted = /** @type {string | null} */ (null);
  answers.account_repos = () => [
    { id: 'repo_1', name: 'web', chunks: 12, created: '2026-12-07 04:00 UTC', linked: null, generation: 3, last_sync: '1 min ago', hosted_search: hosted },
  ];
  answers.set_hosted_search = ({ branch }) => {
    hosted = branch;
    return null;
  };
  await screen('workspaces');
  await settle();
  assert.match($('repo-list').textContent ?? '', /hosted search off: the service holds only sealed objects/);
  const on = /** @type {HTMLElement} */ (document.querySelector('#repo-list button'));
  assert.match(on.getAttribute('aria-label') ?? '', /send its code readable by the service/);
  on.click();
  await settle();
  assert.deepEqual(called('set_hosted_search'), [], 'asked once more first');
  on.click();
  await settle();
  assert.deepEqual(called('set_hosted_search'), [{ org: 'org_1', repo: 'repo_1', branch: 'main' }]);
  assert.match($('repo-list').textContent ?? '', /hosted search on \(main\): the service keeps its code readable/);
  answers.account_repos = () => [];
});

test('the tray, the shortcut and links switch screens and search', async () => {
  emit('navigate', { screen: 'search', query: 'join words' });
  await settle();
  assert.equal(/** @type {HTMLElement} */ (document.querySelector('section[data-screen="search"]')).hidden, false);
  assert.deepEqual(called('search').at(-1), { query: 'join words', limit: 20 });
});

test('a session that ends elsewhere sends the person back to sign in', async () => {
  answers.account_status = () => signedOut;
  answers.api_keys = () => {
    throw { code: 'unauthorized', message: 'the session ended (signed out or revoked): sign in again' };
  };
  const before = called('account_status').length;
  await screen('keys');
  assert.equal(called('account_status').length, before + 1);
  assert.equal($('sign-in').hidden, false);
  assert.equal($('banner').textContent, 'the session ended (signed out or revoked): sign in again');
});
