// Dashboard: summary numbers, coverage, by-tactic bars, review queue.
import { h, api, techHref, label, statusBadge, download, guard, fmtDate } from './dom.js';
import { legend } from './matrix.js';

export async function dashboardView() {
  const [sum, tactics, queue, history] = await Promise.all([
    api('GET', '/metrics/summary'), api('GET', '/metrics/by-tactic'), api('GET', '/techniques', { query: { review_required: 'true' } }),
    api('GET', '/metrics/history')]);
  const exportButton = (id, text, path, filename) =>
    h('button', { type: 'button', class: 'secondary', id, onclick: () => guard(() => download(path, filename)) }, text);
  const exports = h('div', { class: 'actions', id: 'exports' },
    exportButton('export-layer', 'ATT&CK Navigator layer (.json)', '/export/navigator-layer', 'aegis-navigator-layer.json'),
    exportButton('export-csv', 'Coverage (.csv)', '/export/coverage.csv', 'aegis-coverage.csv'),
    exportButton('export-report', 'Printable report (.html)', '/reports/coverage.html', 'aegis-coverage-report.html'));
  const points = history.points.slice(-30);
  const trend = points.length
    ? h('table', { class: 'table bars', id: 'history' },
      h('thead', null, h('tr', null, ['When', 'Why', 'Coverage', 'Validated', 'Partial', 'Not covered'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', null, points.map((p) => h('tr', null,
        h('td', null, fmtDate(p.taken_at)), h('td', null, label(p.reason)),
        h('td', null, h('progress', { max: 100, value: p.coverage_percentage, 'aria-label': `Coverage on ${fmtDate(p.taken_at)}` }), ' ', `${p.coverage_percentage.toFixed(2)}%`),
        h('td', null, String(p.validated)), h('td', null, String(p.partial)), h('td', null, String(p.not_covered))))))
    : h('p', { class: 'muted', id: 'history' }, 'No history yet: a point is recorded daily and whenever a validation changes a status.');
  const pct = (n) => `${(Math.round(n * 10) / 10).toFixed(1)}%`;
  const stats = h('dl', { class: 'stats' },
    [['total_techniques', 'Techniques'], ['validated', 'Validated'], ['partial', 'Partial'], ['not_covered', 'Not covered'], ['in_progress', 'In progress'], ['not_evaluated', 'Not evaluated']]
      .map(([k, t]) => h('div', { class: `stat st-${k}` }, h('dt', null, t), h('dd', { 'data-metric': k }, String(sum[k])))),
    h('div', { class: 'stat coverage' }, h('dt', null, 'Coverage'), h('dd', { 'data-metric': 'coverage_percentage' }, pct(sum.coverage_percentage))));
  const bars = h('table', { class: 'table bars' },
    h('thead', null, h('tr', null, ['Tactic', 'Coverage', 'Validated', 'Partial', 'Not covered', 'Total'].map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', null, tactics.map((t) => h('tr', { 'data-tactic': t.tactic },
      h('th', { scope: 'row' }, t.name),
      h('td', null, h('progress', { max: 100, value: t.coverage_percentage, 'aria-label': `${t.name} coverage` }), ' ', pct(t.coverage_percentage)),
      h('td', null, String(t.validated)), h('td', null, String(t.partial)), h('td', null, String(t.not_covered)), h('td', null, String(t.total))))));
  return h('div', { class: 'dashboard' },
    h('h1', null, 'Dashboard'),
    h('section', { 'aria-labelledby': 'sum-h' }, h('h2', { id: 'sum-h' }, 'Summary'), stats,
      h('progress', { max: 100, value: sum.coverage_percentage, class: 'big', 'aria-label': 'Overall coverage' }), legend()),
    h('section', { 'aria-labelledby': 'tac-h' }, h('h2', { id: 'tac-h' }, 'Coverage by tactic'), bars),
    h('section', { 'aria-labelledby': 'hist-h' }, h('h2', { id: 'hist-h' }, 'Coverage over time'), trend),
    h('section', { 'aria-labelledby': 'exp-h' }, h('h2', { id: 'exp-h' }, 'Export'), exports),
    h('section', { 'aria-labelledby': 'rq-h' }, h('h2', { id: 'rq-h' }, `Review queue (${queue.length})`),
      queue.length ? h('ul', { class: 'plain', id: 'review-queue' }, queue.map((t) => h('li', null,
        h('a', { href: techHref(t.mitre_id) }, `${t.mitre_id} ${t.name}`), ' ', statusBadge(t.status_global))))
        : h('p', { class: 'muted', id: 'review-queue' }, 'Nothing needs review.')));
}
