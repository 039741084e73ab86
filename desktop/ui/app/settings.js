// @ts-check
// The settings screen: what the app keeps in desktop.json (checked and applied in Rust).

/** @typedef {import('../bindings/Settings').Settings} Settings */

import { refreshAccount } from './account.js';
import { $, attempt, input, invoke } from './ui.js';

/** @param {Settings} s */
function show(s) {
  input('setting-server').value = s.server;
  input('setting-editor').value = s.editor;
  /** @type {HTMLSelectElement} */ ($('setting-model')).value = s.model;
  /** @type {HTMLTextAreaElement} */ ($('setting-exclude')).value = s.exclude.join('\n');
  input('setting-login').checked = s.start_at_login;
  input('setting-pause').checked = s.pause_sync;
}

$('settings-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  /** @type {Settings} */
  const settings = {
    server: input('setting-server').value.trim(),
    editor: input('setting-editor').value.trim(),
    model: /** @type {HTMLSelectElement} */ ($('setting-model')).value,
    exclude: /** @type {HTMLTextAreaElement} */ ($('setting-exclude')).value.split('\n').map((g) => g.trim()).filter(Boolean),
    start_at_login: input('setting-login').checked,
    pause_sync: input('setting-pause').checked,
  };
  const saved = await attempt(() => invoke('save_settings', { settings }));
  if (!saved) return;
  show(/** @type {Settings} */ (saved));
  $('settings-saved').textContent = 'Saved.';
  await refreshAccount();
});

/** Shows the kept settings. */
export async function loadSettings() {
  const kept = await attempt(() => invoke('settings'));
  if (kept) show(/** @type {Settings} */ (kept));
}
