// Coverage matrix: tactics as columns (ATT&CK order), techniques as cells coloured by status.
import { h, api, techHref, STATUSES, label, field, select } from './dom.js';

export function legend() {
  return h('ul', { class: 'legend', 'aria-label': 'Status legend' },
    STATUSES.map((s) => h('li', null, h('span', { class: `swatch st-${s}`, 'aria-hidden': 'true' }), label(s))));
}

function cell(t, subs) {
  const link = h('a', { href: techHref(t.mitre_id), class: 'cell-link',
    title: `${t.mitre_id} ${t.name} — ${label(t.status_global)}${t.review_required ? ' — review required' : ''}` },
    h('span', { class: 'tid' }, t.mitre_id),
    h('span', { class: 'tname' }, t.name),
    h('span', { class: 'visually-hidden' }, `, ${label(t.status_global)}`),
    t.review_required ? h('span', { class: 'flag', title: 'Review required' }, '⚑', h('span', { class: 'visually-hidden' }, ' review required')) : null);
  const li = h('li', { class: `cell st-${t.status_global}${t.is_subtechnique ? ' sub' : ''}`,
    'data-mitre-id': t.mitre_id, 'data-status': t.status_global }, link);
  if (subs && subs.length) {
    const list = h('ul', { class: 'subs', hidden: true }, subs.map((s) => cell(s)));
    const btn = h('button', { type: 'button', class: 'expand', 'aria-expanded': 'false',
      'aria-label': `Show ${subs.length} sub-techniques of ${t.mitre_id}`,
      onclick: () => {
        const open = btn.getAttribute('aria-expanded') !== 'true';
        btn.setAttribute('aria-expanded', String(open));
        list.hidden = !open;
        btn.textContent = open ? '−' : `+${subs.length}`;
        btn.setAttribute('aria-label', `${open ? 'Hide' : 'Show'} ${subs.length} sub-techniques of ${t.mitre_id}`);
      } }, `+${subs.length}`);
    li.append(btn, list);
  }
  return li;
}

export async function matrixView(ctx) {
  const [tactics, techniques] = await Promise.all([api('GET', '/metrics/by-tactic'), api('GET', '/techniques')]);
  const byParent = new Map();
  const tops = [];
  const ids = new Set(techniques.map((t) => t.mitre_id));
  for (const t of techniques) {
    if (t.is_subtechnique && t.parent_mitre_id && ids.has(t.parent_mitre_id)) {
      if (!byParent.has(t.parent_mitre_id)) byParent.set(t.parent_mitre_id, []);
      byParent.get(t.parent_mitre_id).push(t);
    } else tops.push(t);
  }
  const byName = (a, b) => a.name.localeCompare(b.name);
  tops.sort(byName);
  for (const l of byParent.values()) l.sort((a, b) => a.mitre_id.localeCompare(b.mitre_id, undefined, { numeric: true }));

  const techTactics = (t) => (t.tactics && t.tactics.length ? t.tactics : t.tactic ? [t.tactic] : []);
  const frag = document.createDocumentFragment();
  const known = new Set(tactics.map((t) => t.tactic));
  const columns = tactics.map((tac) => ({ key: tac.tactic, tac }));
  const orphans = tops.filter((t) => !techTactics(t).some((k) => known.has(k)));
  if (orphans.length) columns.push({ key: null, tac: { name: 'Other', mitre_id: '', total: orphans.length, validated: 0 } });
  for (const { key, tac } of columns) {
    const items = key === null ? orphans : tops.filter((t) => techTactics(t).includes(key));
    const ul = h('ul', { class: 'cells', 'aria-label': `${tac.name} techniques` });
    for (const t of items) {
      const subs = (byParent.get(t.mitre_id) || []).filter((s) => key === null || !techTactics(s).length || techTactics(s).includes(key));
      ul.append(cell(t, subs));
    }
    frag.append(h('section', { class: 'tactic', 'data-tactic': key || 'other' },
      h('h2', { class: 'tactic-head' },
        h('span', { class: 'tactic-name' }, tac.name),
        h('span', { class: 'tactic-count', title: 'validated / total' }, `${tac.validated}/${tac.total}`),
        h('progress', { max: 100, value: tac.coverage_percentage || 0, 'aria-label': `${tac.name} coverage` })),
      ul));
  }
  const grid = h('div', { class: 'matrix', id: 'matrix' });
  grid.append(frag);

  // ---- filters ----
  const platforms = [...new Set(techniques.flatMap((t) => t.platforms || []))].sort();
  const fPlatform = select('platform', [['', 'All platforms'], ...platforms.map((p) => [p, p])], '', { id: 'filter-platform' });
  const fStatus = select('status', [['', 'All statuses'], ...STATUSES.map((s) => [s, label(s)])], '', { id: 'filter-status' });
  const fReview = h('input', { type: 'checkbox', id: 'filter-review', name: 'review' });
  const fSearch = h('input', { type: 'search', id: 'filter-q', name: 'q', placeholder: 'ID or name' });
  const count = h('p', { class: 'muted', 'aria-live': 'polite', id: 'matrix-count' });
  const data = new Map(techniques.map((t) => [t.mitre_id, t]));
  const cells = [...grid.querySelectorAll('.cell')];

  function matches(t) {
    if (fPlatform.value && !(t.platforms || []).includes(fPlatform.value)) return false;
    if (fStatus.value && t.status_global !== fStatus.value) return false;
    if (fReview.checked && !t.review_required) return false;
    const q = fSearch.value.trim().toLowerCase();
    if (q && !t.mitre_id.toLowerCase().includes(q) && !t.name.toLowerCase().includes(q)) return false;
    return true;
  }
  function apply() {
    const active = fPlatform.value || fStatus.value || fReview.checked || fSearch.value.trim();
    const shown = new Set();
    // sub cells first so parents know whether a sub matched
    for (const c of cells.filter((c) => c.classList.contains('sub'))) {
      const ok = matches(data.get(c.dataset.mitreId));
      c.hidden = !ok;
      if (ok) shown.add(c.dataset.mitreId);
    }
    for (const c of cells.filter((c) => !c.classList.contains('sub'))) {
      const own = matches(data.get(c.dataset.mitreId));
      const subMatch = [...c.querySelectorAll('.cell.sub')].some((s) => !s.hidden);
      c.hidden = !(own || subMatch);
      c.classList.toggle('dim', !own && subMatch);
      if (own) shown.add(c.dataset.mitreId);
      if (active && subMatch) {
        const btn = c.querySelector(':scope > .expand');
        if (btn && btn.getAttribute('aria-expanded') !== 'true') btn.click();
      }
    }
    count.textContent = active ? `${shown.size} of ${techniques.length} techniques match` : `${techniques.length} techniques (${tops.length} top-level)`;
  }
  for (const el of [fPlatform, fStatus, fReview]) el.addEventListener('change', apply);
  fSearch.addEventListener('input', apply);
  const expandAll = h('button', { type: 'button', class: 'secondary', id: 'expand-all', onclick: () => {
    const open = expandAll.getAttribute('aria-pressed') !== 'true';
    expandAll.setAttribute('aria-pressed', String(open));
    expandAll.textContent = open ? 'Collapse all' : 'Expand all';
    for (const b of grid.querySelectorAll('.expand')) if ((b.getAttribute('aria-expanded') === 'true') !== open) b.click();
  }, 'aria-pressed': 'false' }, 'Expand all');

  const filters = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter techniques', onsubmit: (e) => e.preventDefault() },
    field('Search', fSearch), field('Platform', fPlatform), field('Status', fStatus),
    h('div', { class: 'field check' }, fReview, h('label', { for: 'filter-review' }, 'Needs review only')),
    expandAll);
  apply();
  return h('div', { class: 'matrix-page' }, h('h1', null, 'Coverage matrix'), filters, legend(), count, grid);
}
