// @ts-check
// The page: it shows what the commands answer and calls them; everything else (the account,
// sync, indexes, search) happens in Rust. Types come from ../bindings, generated from the
// Rust definitions (`cargo test -p scry-desktop --test bindings` checks they are current).
// Each screen is its own module; this one switches between them and starts the page.

import { refreshAccount } from './account.js';
import { $, input, listen } from './ui.js';
import { refresh as refreshKeys } from './keys.js';
import { refresh as refreshOrg } from './org.js';
import './search.js';
import { loadSettings } from './settings.js';
import { refreshUsage } from './usage.js';
import { loadWorkspaces, refreshRepos } from './workspaces.js';

/** Shows the screen `name`, its nav button marked current. @param {string} name */
function showScreen(name) {
  for (const section of document.querySelectorAll('main section[data-screen]')) {
    /** @type {HTMLElement} */ (section).hidden = section.getAttribute('data-screen') !== name;
  }
  // The banner's Try again: the account, and the screen shown, asked again.
document.addEventListener('retry', async () => {
  await refreshAccount();
  showScreen(document.querySelector('nav button[aria-current="page"]')?.getAttribute('data-screen') ?? 'search');
});

for (const tab of document.querySelectorAll('nav button[data-screen]')) {
    if (tab.getAttribute('data-screen') === name) tab.setAttribute('aria-current', 'page');
    else tab.removeAttribute('aria-current');
  }
  // Each screen shows the account as it is now.
  if (name === 'usage' || name === 'audit') refreshUsage();
  if (name === 'org') refreshOrg();
  if (name === 'keys') refreshKeys();
  if (name === 'workspaces') refreshRepos();
  if (name === 'settings') {
    loadSettings();
    $('settings-saved').textContent = '';
  }
}

// The banner's Try again: the account, and the screen shown, asked again.
document.addEventListener('retry', async () => {
  await refreshAccount();
  showScreen(document.querySelector('nav button[aria-current="page"]')?.getAttribute('data-screen') ?? 'search');
});

for (const tab of document.querySelectorAll('nav button[data-screen]')) {
  tab.addEventListener('click', () => showScreen(tab.getAttribute('data-screen') ?? 'search'));
}

// The tray, the global shortcut and scry://search links ask for a screen (and a search).
listen('navigate', (event) => {
  const to = /** @type {{screen: string, query: string | null}} */ (event.payload);
  showScreen(to.screen);
  if (to.screen === 'search') {
    if (to.query) {
      input('query').value = to.query;
      /** @type {HTMLFormElement} */ ($('search-form')).requestSubmit();
    } else {
      input('query').focus();
    }
  }
});

await loadWorkspaces();
await refreshAccount();

export {};
