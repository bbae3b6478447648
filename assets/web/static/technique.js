// Technique view: details, safe description, review flag, tests, intel, new-test form.
import { h, api, techHref, guard, showInfo, canCreateTests, isLead, label, fmtDate, statusBadge, field, select, clearAlerts } from './dom.js';
import { renderMarkdown } from './md.js';

export function testsTable(tests) {
  if (!tests.length) return h('p', { class: 'muted' }, 'No tests yet.');
  return h('table', { class: 'table', id: 'tests-table' },
    h('thead', null, h('tr', null, ['Name', 'Platform', 'State', 'Result', 'Created by', 'Created'].map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', null, tests.map((t) => h('tr', { 'data-test-id': t.id },
      h('td', null, h('a', { href: `/tests/${encodeURIComponent(t.id)}` }, t.name)),
      h('td', null, t.platform),
      h('td', null, h('span', { class: `badge state-${t.state}` }, label(t.state))),
      h('td', null, label(t.result)),
      h('td', null, t.created_by_username),
      h('td', null, fmtDate(t.created_at))))));
}

export async function techniqueView(ctx, mitreId) {
  const t = await api('GET', `/techniques/${encodeURIComponent(mitreId)}`);
  const root = h('article', { class: 'technique', 'data-mitre-id': t.mitre_id });
  const head = h('header', { class: 'page-head' },
    h('p', { class: 'crumbs' }, h('a', { href: '/matrix' }, 'Matrix'),
      t.parent_mitre_id ? [' / ', h('a', { href: techHref(t.parent_mitre_id) }, t.parent_mitre_id)] : null),
    h('h1', null, h('span', { class: 'tid' }, t.mitre_id), ' ', t.name),
    h('p', null, statusBadge(t.status_global),
      t.review_required ? h('span', { class: 'badge review' }, 'Review required') : null,
      t.deprecated ? h('span', { class: 'badge muted' }, 'Deprecated') : null,
      t.revoked ? h('span', { class: 'badge muted' }, 'Revoked') : null,
      t.url && /^https?:\/\//.test(t.url) ? h('a', { href: t.url, rel: 'noopener noreferrer', target: '_blank', class: 'ext' }, `${t.mitre_id} on attack.mitre.org`) : null));
  root.append(head);

  root.append(h('dl', { class: 'facts' },
    h('dt', null, 'Tactics'), h('dd', null, (t.tactics || []).map(label).join(', ') || '—'),
    h('dt', null, 'Platforms'), h('dd', null, (t.platforms || []).join(', ') || '—'),
    h('dt', null, 'Tests'), h('dd', null, String(t.test_count)),
    h('dt', null, 'ATT&CK version'), h('dd', null, t.attack_object_version || '—'),
    h('dt', null, 'Modified'), h('dd', null, fmtDate(t.attack_modified))));

  if (t.review_required || (t.review && t.review.last_reviewed_at)) {
    const r = t.review || { reasons: [] };
    const box = h('section', { class: 'card review-box', 'aria-labelledby': 'review-h' },
      h('h2', { id: 'review-h' }, t.review_required ? 'Review required' : 'Review'),
      r.reasons.length ? h('ul', null, r.reasons.map((x) => h('li', null,
        h('strong', null, x.source), ': ', x.reason,
        x.reference && /^https?:\/\//.test(x.reference) ? [' ', h('a', { href: x.reference, rel: 'noopener noreferrer', target: '_blank' }, 'reference')] : x.reference ? ` (${x.reference})` : null,
        h('span', { class: 'muted' }, ` — ${fmtDate(x.flagged_at)}`)))) : null,
      r.last_reviewed_at ? h('p', { class: 'muted' }, `Last reviewed by ${r.last_reviewed_by || '?'} at ${fmtDate(r.last_reviewed_at)}`) : null);
    if (t.review_required && isLead()) {
      box.append(h('button', { type: 'button', id: 'mark-reviewed', onclick: (e) => guard(async () => {
        e.target.disabled = true;
        await api('PATCH', `/techniques/${encodeURIComponent(t.mitre_id)}/review`);
        ctx.navigate(location.pathname, true);
      }).finally(() => { e.target.disabled = false; }) }, 'Mark reviewed'));
    }
    root.append(box);
  }

  root.append(h('section', { 'aria-labelledby': 'desc-h' }, h('h2', { id: 'desc-h' }, 'Description'),
    h('div', { class: 'description' }, renderMarkdown(t.description))));

  if (t.subtechniques && t.subtechniques.length) {
    root.append(h('section', { 'aria-labelledby': 'subs-h' }, h('h2', { id: 'subs-h' }, 'Sub-techniques'),
      h('ul', { class: 'plain' }, t.subtechniques.map((s) => h('li', null,
        h('a', { href: techHref(s.mitre_id) }, `${s.mitre_id} ${s.name}`), ' ', statusBadge(s.status_global))))));
  }

  root.append(h('section', { 'aria-labelledby': 'tests-h' }, h('h2', { id: 'tests-h' }, 'Tests'), testsTable(t.tests || [])));

  if (canCreateTests()) root.append(newTestForm(ctx, t));

  const intel = t.intel_items || [];
  root.append(h('section', { 'aria-labelledby': 'intel-h' }, h('h2', { id: 'intel-h' }, 'Threat intel'),
    intel.length ? h('ul', { class: 'plain intel' }, intel.map((i) => h('li', null,
      i.link && /^https?:\/\//.test(i.link) ? h('a', { href: i.link, rel: 'noopener noreferrer', target: '_blank' }, i.title) : h('strong', null, i.title),
      h('span', { class: 'muted' }, ` — ${i.feed_name}, ${fmtDate(i.published || i.fetched_at)}`),
      i.summary ? h('p', { class: 'summary' }, i.summary) : null))) : h('p', { class: 'muted' }, 'No linked intel items.')));
  return root;
}

function newTestForm(ctx, t) {
  const platforms = t.platforms && t.platforms.length ? t.platforms : ['windows', 'linux', 'macos'];
  const name = h('input', { name: 'name', id: 'test-name', required: true, maxlength: 200 });
  const platform = select('platform', platforms.map((p) => [p, p]), platforms[0], { id: 'test-platform' });
  const procedure = h('textarea', { name: 'procedure_text', id: 'test-procedure', rows: 4 });
  const tool = h('input', { name: 'tool_used', id: 'test-tool' });
  const desc = h('textarea', { name: 'description', id: 'test-description', rows: 3 });
  const form = h('form', { class: 'card form', id: 'new-test-form', 'aria-labelledby': 'new-test-h', onsubmit: (e) => {
    e.preventDefault();
    clearAlerts();
    const btn = form.querySelector('button[type=submit]');
    btn.disabled = true;
    guard(async () => {
      const body = { technique_id: t.id, name: name.value.trim(), platform: platform.value };
      if (procedure.value.trim()) body.procedure_text = procedure.value;
      if (tool.value.trim()) body.tool_used = tool.value.trim();
      if (desc.value.trim()) body.description = desc.value;
      const created = await api('POST', '/tests', { json: body });
      ctx.navigate(`/tests/${encodeURIComponent(created.id)}`);
    }).finally(() => { btn.disabled = false; });
  } },
    h('h2', { id: 'new-test-h' }, 'New test'),
    field('Name', name), field('Platform', platform), field('Procedure', procedure), field('Tool used', tool), field('Description', desc),
    h('button', { type: 'submit', id: 'create-test' }, 'Create test'));
  return form;
}
