// @ts-check
// Search over every local workspace, or every repository of the org ("Whole org").

/** @typedef {import('../bindings/SearchHit').SearchHit} SearchHit */

import { $, attempt, button, el, input, invoke, item } from './ui.js';

/** @param {SearchHit[]} hits @param {number} ms */
function show(hits, ms) {
  $('search-note').textContent = `${hits.length} results in ${ms} ms`;
  const list = $('results');
  if (hits.length === 0) {
    list.replaceChildren(item('No results.'));
    return;
  }
  list.replaceChildren(
    ...hits.map((hit) => {
      const place = `${hit.repo ? `${hit.repo}/` : ''}${hit.path}:${hit.start_line}-${hit.end_line}`;
      // A button: Tab reaches each result, Enter opens it in the editor. An org result whose
      // repository is not checked out here has nothing to open.
      const open = hit.root
        ? button(place, `Open ${hit.path} at line ${hit.start_line}`, () =>
            attempt(() => invoke('open_result', { root: hit.root, path: hit.path, line: hit.start_line })),
          )
        : el('span', place);
      open.className = 'result';
      const li = el('li', '', open);
      const note = el('span', [hit.symbol, hit.root || hit.repo].filter(Boolean).join(' · '));
      note.className = 'state';
      li.append(note, el('pre', hit.snippet));
      // The file's other matches, each a way into it at that place.
      const also = (hit.root ? hit.more : []).map((m) =>
        button(m.symbol ? `${m.start_line} ${m.symbol}` : `${m.start_line}`, `Open ${hit.path} at line ${m.start_line}`, () =>
          attempt(() => invoke('open_result', { root: hit.root, path: hit.path, line: m.start_line })),
        ),
      );
      if (also.length > 0) {
        const more = el('div', 'also: ', ...also);
        more.className = 'also';
        li.append(more);
      }
      return li;
    }),
  );
}

$('search-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const started = performance.now();
  const command = input('search-org').checked ? 'search_org' : 'search';
  const hits = await attempt(() => invoke(command, { query: input('query').value, limit: 20 }));
  if (hits) show(/** @type {SearchHit[]} */ (hits), Math.round(performance.now() - started));
  /** @type {HTMLElement | null} */ (document.querySelector('#results button'))?.focus();
});
