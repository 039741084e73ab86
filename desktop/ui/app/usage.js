// @ts-check
// The organisation's plan (quotas as bars, requests per day as a chart), its export, and the
// audit log.

/** @typedef {import('../bindings/PlanView').PlanView} PlanView */
/** @typedef {import('../bindings/DayView').DayView} DayView */
/** @typedef {import('../bindings/AuditPage').AuditPage} AuditPage */

import { $, attempt, el, input, invoke, item, orgs, visible } from './ui.js';

const SVG = 'http://www.w3.org/2000/svg';

async function refreshPlan() {
  const org = orgs.current;
  if (!org) {
    $('tier').textContent = 'Sign in and pick an organisation to see its plan.';
    $('quota-list').replaceChildren();
    $('chart').replaceChildren();
    return;
  }
  const plan = /** @type {PlanView | undefined} */ (await attempt(() => invoke('plan', { org: org.id })));
  if (!plan) return;
  $('tier').textContent = `${org.name} is on the ${plan.tier} tier.`;
  $('quota-list').replaceChildren(
    ...plan.quotas.map((q) => {
      const li = item(q.used === null ? `${q.what}: up to ${q.limit}` : `${q.what}: ${q.used} of ${q.limit}`, `At the limit: ${q.at_limit}.`);
      if (q.used !== null) {
        const meter = /** @type {HTMLMeterElement} */ (el('meter'));
        meter.max = q.limit;
        meter.value = q.used;
        meter.high = q.limit * 0.8;
        meter.setAttribute('aria-label', `${q.what} used`);
        li.prepend(meter, ' ');
      }
      return li;
    }),
  );
  chart(plan.days);
}

/** Bars of requests per day, the busiest day full height. @param {DayView[]} days */
function chart(days) {
  const most = Math.max(1, ...days.map((d) => d.requests));
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', `0 0 ${days.length * 10} 100`);
  svg.setAttribute('role', 'img');
  const total = days.reduce((sum, d) => sum + d.requests, 0);
  svg.setAttribute('aria-label', `${total} requests in ${days.length} days, at most ${most} a day`);
  days.forEach((d, i) => {
    const height = (d.requests / most) * 96;
    const bar = document.createElementNS(SVG, 'rect');
    bar.setAttribute('x', String(i * 10 + 1));
    bar.setAttribute('y', String(100 - height));
    bar.setAttribute('width', '8');
    bar.setAttribute('height', String(height));
    const title = document.createElementNS(SVG, 'title');
    title.textContent = `${d.day}: ${d.requests} requests`;
    bar.append(title);
    svg.append(bar);
  });
  $('chart').replaceChildren(svg, el('figcaption', `${days[0]?.day ?? ''} to ${days[days.length - 1]?.day ?? ''}`));
}

$('export-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const org = orgs.current;
  if (!org) return;
  const saved = await attempt(() => invoke('export_org', { org: org.id, path: input('export-path').value || null }));
  if (saved) $('export-done').textContent = `Saved to ${saved}`;
});

/** The cursor of the next audit page. @type {string | null} */
let next = null;

/** @param {boolean} more */
async function refreshAudit(more) {
  const org = orgs.current;
  if (!more) {
    $('audit-rows').replaceChildren();
    next = null;
  }
  if (!org) return;
  const page = /** @type {AuditPage | undefined} */ (
    await attempt(() => invoke('audit', { org: org.id, after: next, action: input('audit-action').value || null }))
  );
  if (!page) return;
  $('audit-rows').append(
    ...page.entries.map((e) => el('tr', '', ...[e.at, e.actor, e.action, e.target, e.details].map((c) => el('td', c)))),
  );
  next = page.next;
  $('audit-more').hidden = next === null;
}

$('audit-form').addEventListener('submit', (event) => {
  event.preventDefault();
  refreshAudit(false);
});
$('audit-more').addEventListener('click', () => refreshAudit(true));

/** Reloads the plan and the audit log (shown when their screen opens). */
export function refreshUsage() {
  refreshPlan();
  if (orgs.current && (orgs.current.role === 'admin' || orgs.current.role === 'owner')) refreshAudit(false);
}

orgs.watch(() => {
  $('export-done').textContent = '';
  if (visible('usage') || visible('audit')) refreshUsage();
});
