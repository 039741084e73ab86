// @ts-check
// The organisation's API keys.

/** @typedef {import('../bindings/KeyView').KeyView} KeyView */
/** @typedef {import('../bindings/KeyCreatedView').KeyCreatedView} KeyCreatedView */

import { $, attempt, confirmed, input, invoke, item, orgs, shownOnce, visible } from './ui.js';

/** Reloads the keys screen (shown when it opens). */
export async function refresh() {
  const org = orgs.current;
  if (!org) {
    $('key-list').replaceChildren(item('Sign in and pick an organisation to manage its keys.'));
    return;
  }
  const keys = /** @type {KeyView[] | undefined} */ (await attempt(() => invoke('api_keys', { org: org.id })));
  if (!keys) return;
  $('key-list').replaceChildren(
    ...keys.map((k) => {
      const li = item(`${k.name} (${k.prefix}…)`, `${k.role} · created ${k.created} · used ${k.last_used}`);
      li.append(' ', confirmed('Revoke', `Revoke the key ${k.name}`, async () => {
        if (await attempt(() => invoke('revoke_api_key', { org: org.id, key: k.id })) !== undefined) refresh();
      }));
      return li;
    }),
  );
  if (keys.length === 0) $('key-list').replaceChildren(item('No keys yet.'));
}

$('key-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const org = orgs.current;
  if (!org) return;
  const role = /** @type {HTMLSelectElement} */ ($('key-role')).value;
  const created = /** @type {KeyCreatedView | undefined} */ (await attempt(() => invoke('create_api_key', { org: org.id, name: input('key-name').value, role })));
  if (!created) return;
  input('key-name').value = '';
  $('key-secret').replaceChildren(shownOnce(created.secret, `API key ${created.key.name}`));
  refresh();
});

orgs.watch(() => {
  $('key-secret').replaceChildren();
  if (visible('keys')) refresh();
});
