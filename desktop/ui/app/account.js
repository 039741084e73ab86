// @ts-check
// Signing in and out, who is signed in, and the organisation switcher.

/** @typedef {import('../bindings/AccountStatus').AccountStatus} AccountStatus */
/** @typedef {import('../bindings/DeviceStart').DeviceStart} DeviceStart */
/** @typedef {import('../bindings/SignInEvent').SignInEvent} SignInEvent */

import { $, attempt, fail, input, invoke, listen, orgs } from './ui.js';

/** @param {AccountStatus} status */
function show(status) {
  $('server').textContent = status.server;
  const signedIn = status.email !== null;
  const kept = status.credential === 'keyring' ? 'the keyring' : status.credential;
  $('account').textContent = signedIn ? `${status.email} on ${status.server} (session in ${kept})` : `Signed out (${status.server})`;
  $('sign-out').hidden = !signedIn;
  $('sign-in').hidden = signedIn;
  $('org-picker').hidden = !signedIn || status.orgs.length === 0;
  $('device').hidden = true;
  const select = /** @type {HTMLSelectElement} */ ($('org-select'));
  select.replaceChildren(
    ...status.orgs.map((org) => {
      const option = document.createElement('option');
      option.value = org.id;
      option.textContent = `${org.name} (${org.role}, ${org.tier})`;
      return option;
    }),
  );
  orgs.set(status.orgs);
  if (orgs.current) select.value = orgs.current.id;
}

/** Asks who is signed in and shows it; offline, the local screens stay usable. */
export async function refreshAccount() {
  try {
    show(/** @type {AccountStatus} */ (await invoke('account_status')));
  } catch (e) {
    fail(e);
    $('sign-in').hidden = false;
  }
}

$('org-select').addEventListener('change', () => {
  const id = /** @type {HTMLSelectElement} */ ($('org-select')).value;
  orgs.choose(orgs.all.find((o) => o.id === id) ?? null);
});

$('device-start').addEventListener('click', async () => {
  const start = /** @type {DeviceStart | undefined} */ (await attempt(() => invoke('start_device_sign_in')));
  if (!start) return;
  const link = /** @type {HTMLAnchorElement} */ ($('device-link'));
  link.href = start.verification_uri_complete;
  link.textContent = start.verification_uri;
  $('device-code').textContent = start.user_code;
  $('device-state').textContent = `Your browser opens that page; waiting for the approval (the code expires in ${Math.round(start.expires_in_s / 60)} minutes)…`;
  $('device').hidden = false;
});

// A link in a webview opens nothing by itself: the app hands it to the browser.
$('device-link').addEventListener('click', (event) => {
  event.preventDefault();
  attempt(() => invoke('open_server_page', { url: /** @type {HTMLAnchorElement} */ ($('device-link')).href }));
});

$('password-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const status = await attempt(() =>
    invoke('sign_in_with_password', { email: input('email').value, password: input('password').value }),
  );
  if (!status) return;
  input('password').value = '';
  show(/** @type {AccountStatus} */ (status));
});

$('sign-out').addEventListener('click', async () => {
  const status = await attempt(() => invoke('sign_out'));
  if (status) show(/** @type {AccountStatus} */ (status));
});

// A revoked or expired session: back to signing in, the screen the person was on kept.
document.addEventListener('signed-out', () => refreshAccount());

listen('sign-in', (event) => {
  const outcome = /** @type {SignInEvent} */ (event.payload);
  if (outcome.outcome === 'signed_in') {
    refreshAccount();
  } else {
    $('device-state').textContent = outcome.error.message;
  }
});
