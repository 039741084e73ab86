// @ts-check
// What every screen uses: the commands and events, the banner, small element builders, and
// the organisation the person is looking at.

/** @typedef {import('../bindings/CommandError').CommandError} CommandError */
/** @typedef {import('../bindings/OrgView').OrgView} OrgView */

export const { invoke } = window.__TAURI__.core;
export const { listen } = window.__TAURI__.event;

/** @param {string} id */
export function $(id) {
  const found = document.getElementById(id);
  if (!found) throw new Error(`#${id} is missing`);
  return found;
}

/** @param {string} id */
export function input(id) {
  return /** @type {HTMLInputElement} */ ($(id));
}

/** Shows a command's error in the banner, in its own words (they say what to do).
 * @param {unknown} e */
export function fail(e) {
  const error = /** @type {CommandError} */ (e);
  const banner = $('banner');
  banner.textContent = error && error.message ? error.message : String(e);
  banner.hidden = false;
  if (error && error.code === 'unauthorized') document.dispatchEvent(new Event('signed-out'));
  // Offline or briefly unavailable: the screen can ask again once the network is back.
  if (error && (error.code === 'offline' || error.code === 'unavailable' || error.code === 'rate_limited')) {
    const wait = error.retry_after_s ? ` (in ${error.retry_after_s} s)` : '';
    banner.append(' ', button(`Try again${wait}`, 'Try again', () => document.dispatchEvent(new Event('retry'))));
  }
}

export function clearBanner() {
  $('banner').hidden = true;
}

/** Runs a command's call, its error in the banner; the answer, or undefined on failure.
 * @template T @param {() => Promise<T>} call @returns {Promise<T | undefined>} */
export async function attempt(call) {
  try {
    const answer = await call();
    clearBanner();
    return answer;
  } catch (e) {
    fail(e);
    return undefined;
  }
}

/** `1 file`, `2 files`. @param {number} n @param {string} one @param {string} [many] */
export function count(n, one, many) {
  return `${n} ${n === 1 ? one : many ?? `${one}s`}`;
}

/** An element with text and children.
 * @param {string} tag @param {string} [text] @param {...Node | string} children */
export function el(tag, text, ...children) {
  const made = document.createElement(tag);
  if (text) made.textContent = text;
  made.append(...children);
  return made;
}

/** A list item: the main text, and a quieter note beside it.
 * @param {string} text @param {string} [note] */
export function item(text, note) {
  const li = el('li', text);
  if (note) {
    const span = el('span', note);
    span.className = 'state';
    li.append(span);
  }
  return li;
}

/** A button with its accessible name.
 * @param {string} text @param {string} label @param {() => void} action */
export function button(text, label, action) {
  const made = /** @type {HTMLButtonElement} */ (el('button', text));
  made.type = 'button';
  made.setAttribute('aria-label', label);
  made.addEventListener('click', action);
  return made;
}

/** A button that asks once more before it acts: the first press turns it into `Confirm …`.
 * @param {string} text @param {string} label @param {() => Promise<void>} action */
export function confirmed(text, label, action) {
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let armed;
  const made = button(text, label, async () => {
    if (armed === undefined) {
      made.textContent = `Confirm: ${text.toLowerCase()}`;
      made.setAttribute('aria-label', `Confirm: ${label}`);
      armed = setTimeout(() => {
        made.textContent = text;
        made.setAttribute('aria-label', label);
        armed = undefined;
      }, 5000);
      return;
    }
    clearTimeout(armed);
    armed = undefined;
    await action();
  });
  return made;
}

/** A secret shown once: the text, a copy button, and the warning.
 * @param {string} secret @param {string} what */
export function shownOnce(secret, what) {
  const code = el('code', secret);
  code.setAttribute('aria-label', what);
  const copy = button('Copy', `Copy the ${what}`, async () => {
    await navigator.clipboard.writeText(secret);
    copy.textContent = 'Copied';
  });
  const box = el('div', '', el('p', `This is the only time the ${what} is shown: copy it now.`), code, ' ', copy);
  box.className = 'once';
  box.setAttribute('role', 'status');
  return box;
}

/** Whether the screen `name` is shown: the others load when they open, which keeps the
 * requests a switch of organisation makes within a small tier's rate limit.
 * @param {string} name */
export function visible(name) {
  const section = document.querySelector(`section[data-screen="${name}"]`);
  return section !== null && !(/** @type {HTMLElement} */ (section).hidden);
}

/** The organisations the person belongs to, and the one the screens show. */
export const orgs = {
  /** @type {OrgView[]} */
  all: [],
  /** @type {OrgView | null} */
  current: null,
  /** @type {((org: OrgView | null) => void)[]} */
  watchers: [],
  /** @param {(org: OrgView | null) => void} watcher */
  watch(watcher) {
    this.watchers.push(watcher);
  },
  /** @param {OrgView[]} all */
  set(all) {
    this.all = all;
    const kept = all.find((o) => o.id === this.current?.id);
    this.choose(kept ?? all[0] ?? null);
  },
  /** @param {OrgView | null} org */
  choose(org) {
    this.current = org;
    for (const watcher of this.watchers) watcher(org);
  },
};
