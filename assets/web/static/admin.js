// Admin: users, audit log, system (scheduler, ATT&CK sync, intel scan), feeds.
import { h, api, upload, guard, showInfo, showError, clearAlerts, clear, session, ROLES, label, fmtDate, field, select } from './dom.js';

export async function adminView(ctx) {
  const root = h('div', { class: 'admin' }, h('h1', null, 'Administration'));
  const usersBox = h('section', { 'aria-labelledby': 'users-h', id: 'users' });
  const auditBox = h('section', { 'aria-labelledby': 'audit-h', id: 'audit' });
  const sysBox = h('section', { 'aria-labelledby': 'sys-h', id: 'system' });
  const feedsBox = h('section', { 'aria-labelledby': 'feeds-h', id: 'feeds' });
  root.append(
    h('nav', { class: 'subnav', 'aria-label': 'Admin sections' },
      h('a', { href: '#users', onclick: jump }, 'Users'), h('a', { href: '#audit', onclick: jump }, 'Audit log'),
      h('a', { href: '#system', onclick: jump }, 'System'), h('a', { href: '#feeds', onclick: jump }, 'Intel feeds')),
    usersBox, auditBox, sysBox, feedsBox);
  const users = await api('GET', '/users');
  renderUsers(usersBox, users);
  await Promise.all([renderAudit(auditBox, users), renderSystem(sysBox), renderFeeds(feedsBox)].map((p) => guard(() => p)));
  return root;
}

function jump(e) {
  e.preventDefault();
  const target = document.querySelector(e.currentTarget.getAttribute('href'));
  if (target) { target.scrollIntoView(); const hd = target.querySelector('h2'); if (hd) { hd.tabIndex = -1; hd.focus(); } }
}

async function refreshUsers(box) { renderUsers(box, await api('GET', '/users')); }

function renderUsers(box, users) {
  clear(box).append(h('h2', { id: 'users-h' }, 'Users'));
  const me = session.me;
  box.append(h('table', { class: 'table', id: 'users-table' },
    h('thead', null, h('tr', null, ['Username', 'Email', 'Role', 'Status', 'Created', ''].map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', null, users.map((u) => {
      const roleSel = select('role', ROLES.map((r) => [r, label(r)]), u.role, { 'aria-label': `Role of ${u.username}`, disabled: u.id === me.id,
        onchange: (e) => guard(async () => { clearAlerts(); await api('PATCH', `/users/${u.id}`, { json: { role: e.target.value } }); await refreshUsers(box); showInfo(`Role of ${u.username} changed to ${label(e.target.value)}.`); }) });
      return h('tr', { 'data-username': u.username },
        h('td', null, u.username), h('td', null, u.email || '—'), h('td', null, roleSel),
        h('td', null, u.is_active ? 'active' : 'inactive'), h('td', null, fmtDate(u.created_at)),
        h('td', null, u.id === me.id ? h('span', { class: 'muted' }, 'you') : h('button', { type: 'button', class: 'secondary',
          onclick: () => guard(async () => { clearAlerts(); await api('PATCH', `/users/${u.id}`, { json: { is_active: !u.is_active } }); await refreshUsers(box); showInfo(`${u.username} ${u.is_active ? 'deactivated' : 'activated'}.`); }) },
        u.is_active ? 'Deactivate' : 'Activate')));
    }))));
  const username = h('input', { name: 'username', id: 'new-username', required: true, autocomplete: 'off' });
  const email = h('input', { name: 'email', id: 'new-email', type: 'email', autocomplete: 'off' });
  const password = h('input', { name: 'password', id: 'new-password', type: 'password', required: true, autocomplete: 'new-password' });
  const role = select('role', ROLES.map((r) => [r, label(r)]), 'viewer', { id: 'new-role' });
  box.append(h('form', { class: 'card form inline-form', id: 'create-user-form', 'aria-labelledby': 'cu-h', onsubmit: (e) => {
    e.preventDefault();
    clearAlerts();
    guard(async () => {
      const body = { username: username.value.trim(), password: password.value, role: role.value };
      if (email.value.trim()) body.email = email.value.trim();
      await api('POST', '/users', { json: body });
      await refreshUsers(box);
      showInfo(`User ${body.username} created.`);
    });
  } }, h('h3', { id: 'cu-h' }, 'Create user'), field('Username', username), field('Email', email), field('Password', password), field('Role', role),
  h('button', { type: 'submit', id: 'create-user' }, 'Create user')));
}

async function renderAudit(box, users) {
  const [actions, types] = await Promise.all([api('GET', '/audit-logs/actions'), api('GET', '/audit-logs/entity-types')]);
  const fAction = select('action', [['', 'Any action'], ...actions.map((a) => [a, a])], '', { id: 'audit-action' });
  const fType = select('entity_type', [['', 'Any entity'], ...types.map((a) => [a, a])], '', { id: 'audit-entity' });
  const fUser = select('user_id', [['', 'Any user'], ...users.map((u) => [u.id, u.username])], '', { id: 'audit-user' });
  const fStart = h('input', { type: 'date', id: 'audit-start', name: 'start_date' });
  const fEnd = h('input', { type: 'date', id: 'audit-end', name: 'end_date' });
  const out = h('div', { 'aria-live': 'polite' });
  const limit = 25;
  let offset = 0;
  async function load() {
    const q = { action: fAction.value, entity_type: fType.value, user_id: fUser.value, offset, limit,
      start_date: fStart.value ? new Date(fStart.value + 'T00:00:00').toISOString() : '',
      end_date: fEnd.value ? new Date(fEnd.value + 'T23:59:59.999').toISOString() : '' };
    const page = await api('GET', '/audit-logs', { query: q });
    const prev = h('button', { type: 'button', class: 'secondary', disabled: offset === 0, onclick: () => { offset = Math.max(0, offset - limit); guard(load); } }, 'Previous');
    const next = h('button', { type: 'button', class: 'secondary', disabled: offset + limit >= page.total, onclick: () => { offset += limit; guard(load); } }, 'Next');
    clear(out).append(
      h('table', { class: 'table', id: 'audit-table' },
        h('thead', null, h('tr', null, ['Time', 'User', 'Action', 'Entity', 'Details'].map((c) => h('th', { scope: 'col' }, c)))),
        h('tbody', null, page.items.map((a) => h('tr', null,
          h('td', null, fmtDate(a.timestamp)), h('td', null, a.username), h('td', null, a.action),
          h('td', null, a.entity_type, a.entity_id ? h('span', { class: 'muted' }, ` ${a.entity_id}`) : null),
          h('td', null, h('code', { class: 'details' }, a.details == null ? '' : typeof a.details === 'string' ? a.details : JSON.stringify(a.details))))))),
      h('div', { class: 'pager' }, prev, h('span', null, page.total ? `${offset + 1}–${Math.min(offset + limit, page.total)} of ${page.total}` : 'No entries'), next));
  }
  const form = h('form', { class: 'filters', 'aria-label': 'Filter audit log', onsubmit: (e) => { e.preventDefault(); offset = 0; guard(load); } },
    field('Action', fAction), field('Entity type', fType), field('User', fUser), field('From', fStart), field('To', fEnd),
    h('button', { type: 'submit', id: 'audit-apply' }, 'Apply'));
  clear(box).append(h('h2', { id: 'audit-h' }, 'Audit log'), form, out);
  await load();
}

async function renderSystem(box) {
  const sched = h('div');
  const result = h('div', { 'aria-live': 'polite', id: 'system-result' });
  async function loadSched() {
    const s = await api('GET', '/system/scheduler-status');
    clear(sched).append(h('p', null, `Scheduler: ${s.running ? 'running' : 'stopped'}`),
      h('table', { class: 'table', id: 'jobs-table' },
        h('thead', null, h('tr', null, ['Job', 'Schedule', 'Next run', 'Last run', 'Status', 'Message'].map((c) => h('th', { scope: 'col' }, c)))),
        h('tbody', null, s.jobs.map((j) => h('tr', null,
          h('td', null, j.name), h('td', null, j.enabled ? (j.schedule || '—') : 'disabled'), h('td', null, fmtDate(j.next_run_time)),
          h('td', null, fmtDate(j.last_run_at), j.last_triggered_by ? ` (${j.last_triggered_by})` : ''),
          h('td', null, j.last_status || '—'), h('td', null, j.last_message || ''))))));
  }
  const busy = async (btn, fn) => { btn.disabled = true; clearAlerts(); try { await guard(fn); } finally { btn.disabled = false; } };
  const showSync = (r) => {
    clear(result).append(h('p', null, r.message), h('ul', { class: 'plain' },
      h('li', null, `New: ${r.new}, updated: ${r.updated}, deprecated: ${r.deprecated}, unchanged: ${r.unchanged}, flagged for review: ${r.flagged_for_review}`),
      h('li', null, `Source: ${r.source}${r.attack_version ? `, ATT&CK ${r.attack_version}` : ''}`)));
  };
  const syncBtn = h('button', { type: 'button', id: 'sync-mitre', onclick: () => busy(syncBtn, async () => {
    result.textContent = 'Syncing ATT&CK…';
    showSync(await api('POST', '/system/sync-mitre')); await loadSched();
  }) }, 'Sync ATT&CK now');
  const bundle = h('input', { type: 'file', id: 'bundle-file', accept: '.json,.gz,application/json,application/gzip' });
  const bundleProg = h('progress', { max: 100, value: 0, hidden: true, 'aria-label': 'Bundle upload progress' });
  const uploadBtn = h('button', { type: 'button', class: 'secondary', id: 'upload-bundle', onclick: () => busy(uploadBtn, async () => {
    const f = bundle.files[0];
    if (!f) { showError('Choose a bundle file first.'); return; }
    bundleProg.hidden = false;
    try {
      showSync(await upload('/system/sync-mitre', f, (d, t) => { bundleProg.value = Math.round((d / t) * 100); }));
      await loadSched();
    } finally { bundleProg.hidden = true; }
  }) }, 'Upload and sync');
  const atomics = h('input', { type: 'file', id: 'atomics-file', accept: '.gz,.tgz,.zip,.yaml,.yml' });
  const atomicsProg = h('progress', { max: 100, value: 0, hidden: true, 'aria-label': 'Atomic Red Team upload progress' });
  const atomicsBtn = h('button', { type: 'button', class: 'secondary', id: 'import-atomics', onclick: () => busy(atomicsBtn, async () => {
    const f = atomics.files[0];
    if (!f) { showError('Choose an atomics archive or YAML file first.'); return; }
    atomicsProg.hidden = false;
    try {
      const r = await upload('/import/atomic-red-team', f, (d, t) => { atomicsProg.value = Math.round((d / t) * 100); });
      clear(result).append(h('p', { id: 'atomics-result' },
        `Atomic Red Team: ${r.imported} new, ${r.updated} updated, ${r.unchanged} unchanged atomic tests over ${r.techniques} techniques.`),
      r.errors.length ? h('ul', { class: 'plain' }, r.errors.map((e) => h('li', null, `${e.file}: ${e.error}`))) : '');
    } finally { atomicsProg.hidden = true; }
  }) }, 'Import atomics');
  const scanBtn = h('button', { type: 'button', id: 'run-intel-scan', onclick: () => busy(scanBtn, async () => {
    result.textContent = 'Scanning feeds…';
    const r = await api('POST', '/system/run-intel-scan');
    clear(result).append(h('p', null, `${r.message} — ${r.new_items} new items, ${r.flagged_techniques} techniques flagged.`),
      r.feeds.length ? h('table', { class: 'table' },
        h('thead', null, h('tr', null, ['Feed', 'Status', 'New items', 'Error'].map((c) => h('th', { scope: 'col' }, c)))),
        h('tbody', null, r.feeds.map((f) => h('tr', null, h('td', null, f.name), h('td', null, f.status), h('td', null, String(f.new_items)), h('td', null, f.error || ''))))) : h('p', { class: 'muted' }, 'No feeds scanned.'));
    await loadSched();
  }) }, 'Run intel scan');
  clear(box).append(h('h2', { id: 'sys-h' }, 'System'), sched,
    h('div', { class: 'actions' }, syncBtn, scanBtn),
    h('div', { class: 'card inline-form' }, field('ATT&CK bundle (.json or .json.gz)', bundle), uploadBtn, bundleProg),
    h('div', { class: 'card inline-form' }, field('Atomic Red Team (.tar.gz, .zip or a technique .yaml)', atomics), atomicsBtn, atomicsProg),
    result);
  await loadSched();
}

async function renderFeeds(box) {
  const feeds = await api('GET', '/intel/feeds');
  const reload = () => guard(() => renderFeeds(box));
  const name = h('input', { id: 'feed-name', name: 'name', required: true });
  const url = h('input', { id: 'feed-url', name: 'url', type: 'url', required: true, placeholder: 'https://…' });
  clear(box).append(h('h2', { id: 'feeds-h' }, 'Intel feeds'),
    feeds.length ? h('table', { class: 'table', id: 'feeds-table' },
      h('thead', null, h('tr', null, ['Name', 'URL', 'Enabled', 'Last fetched', 'Status', ''].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', null, feeds.map((f) => h('tr', null,
        h('td', null, f.name), h('td', null, h('code', null, f.url)),
        h('td', null, h('input', { type: 'checkbox', checked: f.enabled, 'aria-label': `Enable ${f.name}`,
          onchange: (e) => guard(async () => { clearAlerts(); await api('PATCH', `/intel/feeds/${f.id}`, { json: { enabled: e.target.checked } }); await renderFeeds(box); }) })),
        h('td', null, fmtDate(f.last_fetched_at)), h('td', null, f.last_status || '—', f.last_error ? h('span', { class: 'muted' }, ` ${f.last_error}`) : null),
        h('td', null, h('button', { type: 'button', class: 'danger', onclick: () => {
          if (!confirm(`Delete feed ${f.name}?`)) return;
          guard(async () => { clearAlerts(); await api('DELETE', `/intel/feeds/${f.id}`); await renderFeeds(box); });
        } }, 'Delete')))))) : h('p', { class: 'muted' }, 'No feeds configured.'),
    h('form', { class: 'card form inline-form', id: 'add-feed-form', onsubmit: (e) => {
      e.preventDefault(); clearAlerts();
      guard(async () => { await api('POST', '/intel/feeds', { json: { name: name.value.trim(), url: url.value.trim(), enabled: true } }); await renderFeeds(box); });
    } }, field('Feed name', name), field('Feed URL', url), h('button', { type: 'submit' }, 'Add feed')));
  void reload;
}
