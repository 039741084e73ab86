// @ts-check
// Search over every local workspace.

/** @typedef {import('../bindings/SearchHit').SearchHit} SearchHit */

import { $, attempt, el, input, invoke, item } from './ui.js';

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
      const li = item(`${hit.path}:${hit.start_line}-${hit.end_line}`, [hit.symbol, hit.root].filter(Boolean).join(' · '));
      li.append(el('pre', hit.snippet));
      return li;
    }),
  );
}

$('search-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const started = performance.now();
  const hits = await attempt(() => invoke('search', { query: input('query').value, limit: 20 }));
  if (hits) show(/** @type {SearchHit[]} */ (hits), Math.round(performance.now() - started));
});
