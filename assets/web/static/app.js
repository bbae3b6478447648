// Aegis web UI: router, layout, login. Views live in their own modules.
import { h, clear, api, session, setUnauthorizedHandler, showError, showInfo, clearAlerts, guard, isAdmin, label, ApiError } from './dom.js';
import { matrixView } from './matrix.js';
import { techniqueView } from './technique.js';
import { testView } from './test.js';
import { dashboardView } from './dashboard.js';
import { adminView } from './admin.js';

const app = document.getElementById('app');
let flash = null;

export function navigate(path, replace = false) {
  if (replace) history.replaceState(null, '', path); else history.pushState(null, '', path);
  render();
}

setUnauthorizedHandler(() => {
  const wasLoggedIn = !!session.token;
  session.token = null;
  session.me = null;
  flash = wasLoggedIn ? 'Your session expired. Please sign in again.' : 'Please sign in.';
  if (location.pathname !== '/login') navigate('/login?next=' + encodeURIComponent(location.pathname), true);
  else render();
});

document.addEventListener('click', (e) => {
  const a = e.target.closest('a');
  if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  if (a.target || a.hasAttribute('download') || a.origin !== location.origin) return;
  if (a.pathname.startsWith('/api/') || a.pathname.startsWith('/static/') || a.pathname.startsWith('/docs')) return;
  e.preventDefault();
  navigate(a.pathname + a.search);
});
window.addEventListener('popstate', () => render());

function layout() {
  const me = session.me;
  const nav = h('nav', { 'aria-label': 'Main' },
    h('a', { href: '/matrix', 'data-nav': 'matrix' }, 'Matrix'),
    h('a', { href: '/dashboard', 'data-nav': 'dashboard' }, 'Dashboard'),
    isAdmin() ? h('a', { href: '/admin', 'data-nav': 'admin' }, 'Admin') : null);
  const header = h('header', { class: 'topbar' },
    h('a', { class: 'brand', href: '/' }, 'Aegis'),
    nav,
    h('div', { class: 'user' },
      h('span', { class: 'whoami' }, me.username, ' ', h('span', { class: 'role' }, label(me.role))),
      h('button', { type: 'button', class: 'secondary', id: 'logout', onclick: logout }, 'Log out')));
  const main = h('main', { id: 'main', tabindex: '-1' });
  clear(app).append(
    h('a', { class: 'skip', href: '#main' }, 'Skip to content'),
    header,
    h('div', { id: 'alert', role: 'alert', class: 'alert alert-error', hidden: true }),
    h('div', { id: 'status', role: 'status', class: 'alert alert-info', hidden: true }),
    main);
  return { main, nav };
}

function logout() {
  session.token = null;
  session.me = null;
  flash = 'You have been logged out.';
  navigate('/login');
}

function loginView() {
  const user = h('input', { id: 'username', name: 'username', autocomplete: 'username', required: true });
  const pass = h('input', { id: 'password', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const alert = h('div', { id: 'alert', role: 'alert', class: 'alert alert-error', hidden: true });
  const info = h('div', { id: 'status', role: 'status', class: 'alert alert-info', hidden: true });
  const form = h('form', { class: 'login card', 'aria-labelledby': 'login-title', onsubmit: async (e) => {
    e.preventDefault();
    clearAlerts();
    const btn = form.querySelector('button');
    btn.disabled = true;
    try {
      const tok = await api('POST', '/auth/login', { form: { username: user.value, password: pass.value }, noAuthRedirect: true });
      session.token = tok.access_token;
      session.me = await api('GET', '/auth/me');
      const next = new URLSearchParams(location.search).get('next');
      navigate(next && next.startsWith('/') && !next.startsWith('//') && next !== '/login' ? next : '/matrix', true);
    } catch (err) {
      showError(err);
      btn.disabled = false;
    }
  } },
    h('h1', { id: 'login-title' }, 'Sign in to Aegis'),
    alert, info,
    h('div', { class: 'field' }, h('label', { for: 'username' }, 'Username'), user),
    h('div', { class: 'field' }, h('label', { for: 'password' }, 'Password'), pass),
    h('button', { type: 'submit', id: 'login-submit' }, 'Sign in'));
  clear(app).append(h('main', { id: 'main', class: 'login-page' }, form));
  if (flash) { info.textContent = flash; info.hidden = false; flash = null; }
  user.focus();
}

const routes = [
  [/^\/(matrix)?$/, 'matrix', () => matrixView],
  [/^\/dashboard$/, 'dashboard', () => dashboardView],
  [/^\/admin$/, 'admin', () => adminView],
  [/^\/techniques\/([^/]+?)(?:\/([^/]+))?\/?$/, 'matrix', () => (ctx, a, b) => techniqueView(ctx, b ? `${a}.${b}` : a)],
  [/^\/tests\/([^/]+)$/, 'matrix', () => testView],
];

let renderSeq = 0;
async function render() {
  const seq = ++renderSeq;
  const path = location.pathname;
  if (path === '/login') { loginView(); return; }
  if (!session.token) {
    navigate('/login' + (path !== '/' ? '?next=' + encodeURIComponent(path) : ''), true);
    return;
  }
  if (!session.me) {
    try { session.me = await api('GET', '/auth/me'); } catch (e) {
      if (!(e instanceof ApiError && e.status === 401)) { clear(app).append(h('p', { role: 'alert' }, e.message)); }
      return;
    }
  }
  if (seq !== renderSeq) return;
  const { main, nav } = layout();
  const route = routes.find(([re]) => re.test(path));
  if (!route) {
    main.append(h('h1', null, 'Not found'), h('p', null, 'No page at this address. ', h('a', { href: '/matrix' }, 'Go to the matrix')));
    return;
  }
  const [re, section, view] = route;
  const cur = nav.querySelector(`[data-nav="${section}"]`);
  if (cur) cur.setAttribute('aria-current', 'page');
  const params = path.match(re).slice(1).map((p) => (p ? decodeURIComponent(p) : p));
  main.append(h('p', { class: 'loading' }, 'Loading…'));
  const ctx = { navigate, main, isCurrent: () => seq === renderSeq, showInfo };
  await guard(async () => {
    const node = await view()(ctx, ...params);
    if (seq !== renderSeq || !node) return;
    clear(main).append(node);
    const h1 = main.querySelector('h1');
    document.title = (h1 ? h1.textContent + ' · ' : '') + 'Aegis';
  });
  if (seq === renderSeq) { const l = main.querySelector(':scope > .loading'); if (l) l.remove(); }
}

render();
