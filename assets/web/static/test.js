// Test view: fields, edit (draft/rejected, creator or admin), evidence upload, validate/reject.
import { h, api, techHref, upload, guard, showInfo, showError, clearAlerts, session, isAdmin, isLead, canCreateTests, label, fmtDate, fmtBytes, field, select } from './dom.js';

export async function testView(ctx, id) {
  const t = await api('GET', `/tests/${encodeURIComponent(id)}`);
  const reload = () => ctx.navigate(location.pathname, true);
  const root = h('article', { class: 'test', 'data-test-id': t.id, 'data-state': t.state });
  root.append(h('header', { class: 'page-head' },
    h('p', { class: 'crumbs' }, h('a', { href: '/matrix' }, 'Matrix'), ' / ',
      h('a', { href: techHref(t.technique_mitre_id) }, `${t.technique_mitre_id} ${t.technique_name}`)),
    h('h1', null, t.name),
    h('p', null, h('span', { class: `badge state-${t.state}`, id: 'test-state' }, label(t.state)),
      t.result ? h('span', { class: `badge result-${t.result}`, id: 'test-result' }, label(t.result)) : null)));

  root.append(h('dl', { class: 'facts' },
    h('dt', null, 'Platform'), h('dd', null, t.platform),
    h('dt', null, 'Tool used'), h('dd', null, t.tool_used || '—'),
    h('dt', null, 'Created by'), h('dd', null, `${t.created_by_username}, ${fmtDate(t.created_at)}`),
    h('dt', null, 'Updated'), h('dd', null, fmtDate(t.updated_at)),
    t.validated_at ? [h('dt', null, 'Validated by'), h('dd', null, `${t.validated_by_username || '?'}, ${fmtDate(t.validated_at)}`)] : null,
    t.validation_comments ? [h('dt', null, 'Validation comments'), h('dd', { class: 'pre' }, t.validation_comments)] : null,
    t.rejected_at ? [h('dt', null, 'Rejected by'), h('dd', null, `${t.rejected_by_username || '?'}, ${fmtDate(t.rejected_at)}`)] : null,
    t.rejection_comments ? [h('dt', null, 'Rejection comments'), h('dd', { class: 'pre' }, t.rejection_comments)] : null));
  root.append(h('section', { 'aria-labelledby': 'proc-h' }, h('h2', { id: 'proc-h' }, 'Procedure'), h('pre', { class: 'pre-block' }, t.procedure_text || '—')));
  root.append(h('section', { 'aria-labelledby': 'tdesc-h' }, h('h2', { id: 'tdesc-h' }, 'Description'), h('p', { class: 'pre' }, t.description || '—')));

  const me = session.me;
  const editable = (t.state === 'draft' || t.state === 'rejected') && (isAdmin() || t.created_by === me.id);
  if (editable) root.append(editForm(t, reload));

  // ---- evidence ----
  const ev = t.evidences || [];
  const evSection = h('section', { 'aria-labelledby': 'ev-h', class: 'evidence' }, h('h2', { id: 'ev-h' }, `Evidence (${ev.length})`),
    ev.length ? h('ul', { class: 'plain', id: 'evidence-list' }, ev.map((e) => h('li', { 'data-evidence-id': e.id },
      h('a', { href: e.download_url, download: e.file_name, class: 'download' }, e.file_name),
      h('span', { class: 'muted' }, ` — ${fmtBytes(e.size_bytes)}, by ${e.uploaded_by_username}, ${fmtDate(e.uploaded_at)}`),
      h('br'), h('code', { class: 'hash', title: 'SHA-256' }, e.sha256_hash)))) : h('p', { class: 'muted', id: 'evidence-list' }, 'No evidence yet.'));
  if (canCreateTests() || isAdmin()) evSection.append(uploader(t, reload));
  root.append(evSection);

  if (isLead() && t.state === 'draft') root.append(reviewForm(t, reload));
  return root;
}

function editForm(t, reload) {
  const name = h('input', { name: 'name', id: 'edit-name', value: t.name, required: true });
  const platform = h('input', { name: 'platform', id: 'edit-platform', value: t.platform, required: true });
  const procedure = h('textarea', { name: 'procedure_text', id: 'edit-procedure', rows: 4 }, t.procedure_text || '');
  const tool = h('input', { name: 'tool_used', id: 'edit-tool', value: t.tool_used || '' });
  const desc = h('textarea', { name: 'description', id: 'edit-description', rows: 3 }, t.description || '');
  const form = h('form', { class: 'form', id: 'edit-test-form', onsubmit: (e) => {
    e.preventDefault();
    clearAlerts();
    guard(async () => {
      await api('PATCH', `/tests/${encodeURIComponent(t.id)}`, { json: {
        name: name.value.trim(), platform: platform.value.trim(), procedure_text: procedure.value, tool_used: tool.value, description: desc.value } });
      reload();
    });
  } }, field('Name', name), field('Platform', platform), field('Procedure', procedure), field('Tool used', tool), field('Description', desc),
  h('button', { type: 'submit', id: 'save-test' }, 'Save changes'));
  return h('details', { class: 'card' }, h('summary', null, 'Edit test'), form);
}

function uploader(t, reload) {
  const input = h('input', { type: 'file', id: 'evidence-file', name: 'file' });
  const progress = h('progress', { max: 100, value: 0, id: 'upload-progress', hidden: true, 'aria-label': 'Upload progress' });
  const pct = h('span', { class: 'muted', 'aria-live': 'polite' });
  async function send(file) {
    if (!file) return;
    clearAlerts();
    progress.hidden = false; progress.value = 0; pct.textContent = `Uploading ${file.name}…`;
    input.disabled = true;
    try {
      await upload(`/tests/${encodeURIComponent(t.id)}/evidence`, file, (done, total) => {
        progress.value = Math.round((done / total) * 100);
        pct.textContent = `${progress.value}%`;
      });
      progress.value = 100;
      reload();
    } catch (e) {
      if (e.status !== 401) showError(e);
      pct.textContent = '';
      progress.hidden = true;
    } finally { input.disabled = false; input.value = ''; }
  }
  input.addEventListener('change', () => send(input.files[0]));
  const zone = h('div', { class: 'dropzone', id: 'dropzone' },
    h('p', null, 'Drop an evidence file here, or '),
    h('label', { for: 'evidence-file', class: 'button secondary' }, 'Choose a file'), input, progress, pct);
  zone.addEventListener('dragover', (e) => { e.preventDefault(); zone.classList.add('over'); });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (e) => {
    e.preventDefault(); zone.classList.remove('over');
    const f = e.dataTransfer && e.dataTransfer.files[0];
    if (f) send(f);
  });
  return zone;
}

function reviewForm(t, reload) {
  const result = select('result', [['detected', 'Detected'], ['partially_detected', 'Partially detected'], ['not_detected', 'Not detected']], 'detected', { id: 'validate-result' });
  const comments = h('textarea', { name: 'comments', id: 'validate-comments', rows: 3 });
  const run = (kind) => guard(async () => {
    clearAlerts();
    const c = comments.value.trim();
    if (kind === 'validate') await api('POST', `/tests/${encodeURIComponent(t.id)}/validate`, { json: c ? { result: result.value, comments: c } : { result: result.value } });
    else await api('POST', `/tests/${encodeURIComponent(t.id)}/reject`, { json: c ? { comments: c } : {} });
    reload();
  });
  return h('form', { class: 'card form', id: 'review-form', 'aria-labelledby': 'rev-h', onsubmit: (e) => { e.preventDefault(); run('validate'); } },
    h('h2', { id: 'rev-h' }, 'Review this test'),
    field('Result', result), field('Comments', comments),
    h('div', { class: 'actions' },
      h('button', { type: 'submit', id: 'validate-test' }, 'Validate'),
      h('button', { type: 'button', class: 'danger', id: 'reject-test', onclick: () => run('reject') }, 'Reject')));
}
