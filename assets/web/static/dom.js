// Small DOM and API helpers. All text goes through textContent (never innerHTML with data).

/** Builds an element: attrs (on* = listeners, `class`, booleans, others as attributes), children. */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
      else if (k === 'value' || k === 'checked' || k === 'selected') el[k] = v;
      else el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function clear(el) { el.replaceChildren(); return el; }

const TOKEN_KEY = 'aegis.token';
export const session = {
  get token() { return sessionStorage.getItem(TOKEN_KEY); },
  set token(t) { if (t) sessionStorage.setItem(TOKEN_KEY, t); else sessionStorage.removeItem(TOKEN_KEY); },
  me: null,
};

export class ApiError extends Error {
  constructor(status, detail, code) { super(detail); this.status = status; this.code = code; }
}

let onUnauthorized = () => {};
export function setUnauthorizedHandler(fn) { onUnauthorized = fn; }

async function errorFrom(res) {
  let detail = `${res.status} ${res.statusText}`; let code = 'HTTP_' + res.status;
  try {
    const body = await res.json();
    if (body && body.detail) { detail = String(body.detail); code = body.code || code; }
  } catch { /* not JSON */ }
  return new ApiError(res.status, detail, code);
}

/** Calls the API. opts: {json, form, body, query}. Returns parsed JSON (or null for 204). */
export async function api(method, path, opts = {}) {
  let url = '/api/v1' + path;
  if (opts.query) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(opts.query)) if (v !== undefined && v !== null && v !== '') q.set(k, v);
    const s = q.toString();
    if (s) url += '?' + s;
  }
  const headers = { Accept: 'application/json' };
  if (session.token) headers.Authorization = 'Bearer ' + session.token;
  let body;
  if (opts.json !== undefined) { headers['Content-Type'] = 'application/json'; body = JSON.stringify(opts.json); }
  else if (opts.form) { body = new URLSearchParams(opts.form); }
  else if (opts.body) { body = opts.body; }
  const res = await fetch(url, { method, headers, body });
  if (res.status === 401 && !opts.noAuthRedirect) {
    const err = await errorFrom(res);
    onUnauthorized(err);
    throw err;
  }
  if (!res.ok) throw await errorFrom(res);
  if (res.status === 204) return null;
  const ct = res.headers.get('content-type') || '';
  return ct.includes('json') ? res.json() : res.text();
}

/** Multipart upload with progress (XMLHttpRequest for upload.onprogress). */
export function upload(path, file, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', '/api/v1' + path);
    if (session.token) xhr.setRequestHeader('Authorization', 'Bearer ' + session.token);
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.upload.onprogress = (e) => { if (e.lengthComputable && onProgress) onProgress(e.loaded, e.total); };
    xhr.onerror = () => reject(new ApiError(0, 'network error during upload', 'NETWORK'));
    xhr.onload = () => {
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch { /* empty */ }
      if (xhr.status >= 200 && xhr.status < 300) return resolve(body);
      const err = new ApiError(xhr.status, (body && body.detail) || `${xhr.status} ${xhr.statusText}`, body && body.code);
      if (xhr.status === 401) onUnauthorized(err);
      reject(err);
    };
    const fd = new FormData();
    fd.append('file', file, file.name);
    xhr.send(fd);
  });
}

// ---- alerts ----
export function showError(msg) {
  const el = document.getElementById('alert');
  if (!el) return;
  el.className = 'alert alert-error';
  el.textContent = msg instanceof Error ? msg.message : String(msg);
  el.hidden = false;
}
export function showInfo(msg) {
  const el = document.getElementById('status');
  if (!el) return;
  el.textContent = String(msg);
  el.hidden = false;
}
export function clearAlerts() {
  for (const id of ['alert', 'status']) {
    const el = document.getElementById(id);
    if (el) { el.textContent = ''; el.hidden = true; }
  }
}

/** Runs an async action, routing errors (other than 401, handled globally) to the alert region. */
export async function guard(fn) {
  try { return await fn(); } catch (e) {
    if (!(e instanceof ApiError && e.status === 401)) showError(e);
    return undefined;
  }
}

// ---- roles ----
export const ROLES = ['admin', 'red_lead', 'red_tech', 'blue_lead', 'blue_tech', 'viewer'];
export const role = () => (session.me ? session.me.role : 'viewer');
export const canCreateTests = () => ['admin', 'red_lead', 'red_tech'].includes(role());
export const isLead = () => ['admin', 'red_lead', 'blue_lead'].includes(role());
export const isAdmin = () => role() === 'admin';

export const STATUSES = ['not_evaluated', 'in_progress', 'validated', 'partial', 'not_covered'];
export const label = (s) => (s == null ? '—' : String(s).replace(/_/g, ' ').replace(/-/g, ' '));
export const fmtDate = (s) => { if (!s) return '—'; const d = new Date(s); return isNaN(d) ? String(s) : d.toLocaleString(); };
export const fmtBytes = (n) => n < 1024 ? `${n} B` : n < 1048576 ? `${(n / 1024).toFixed(1)} KB` : `${(n / 1048576).toFixed(1)} MB`;

export function statusBadge(status) {
  return h('span', { class: `badge st-${status}` }, label(status));
}

/** A labelled form field. */
let fieldSeq = 0;
export function field(labelText, control) {
  const id = control.id || `f${++fieldSeq}`;
  control.id = id;
  return h('div', { class: 'field' }, h('label', { for: id }, labelText), control);
}

export function select(name, options, value, attrs = {}) {
  return h('select', { name, ...attrs },
    options.map((o) => {
      const [v, t] = Array.isArray(o) ? o : [o, label(o)];
      return h('option', { value: v, selected: v === value }, t);
    }));
}

/** App URL of a technique. Sub-technique ids contain a dot, which the server would take for a
 * file name on a full page load, so T1059.001 lives at /techniques/T1059/001. */
export const techHref = (mitreId) => '/techniques/' + String(mitreId).split('.').map(encodeURIComponent).join('/');

/** Fetches an authenticated file and hands it to the browser as a download (a bearer token cannot ride on a plain link). */
export async function download(path, filename) {
  const headers = session.token ? { Authorization: 'Bearer ' + session.token } : {};
  const res = await fetch('/api/v1' + path, { headers });
  if (res.status === 401) { const err = await errorFrom(res); onUnauthorized(err); throw err; }
  if (!res.ok) throw await errorFrom(res);
  const url = URL.createObjectURL(await res.blob());
  const a = h('a', { href: url, download: filename, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}
