// End-to-end test of the Aegis web UI: starts the real binary, drives Debian's Chromium.
// Run: node e2e/ui.test.mjs   (env: AEGIS_BIN, CHROMIUM)
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..');
const bin = process.env.AEGIS_BIN ? resolve(process.env.AEGIS_BIN) : resolve(here, '../target/debug/aegis');
const bundle = resolve(repo, '../shared/data/attack/enterprise-attack.json.gz');
const shots = join(here, 'screenshots');

if (!existsSync(bundle)) { console.log('skipping: ATT&CK data not found'); process.exit(0); }
if (!existsSync(bin)) { console.error(`aegis binary not found at ${bin} (build it or set AEGIS_BIN)`); process.exit(1); }
rmSync(shots, { recursive: true, force: true });
mkdirSync(shots, { recursive: true });

const dataDir = mkdtempSync(join(tmpdir(), 'aegis-e2e-'));
const env = {
  ...process.env, AEGIS_DATA_DIR: dataDir, AEGIS_BIND: '127.0.0.1:0', AEGIS_ADMIN_PASSWORD: 'admin-password',
  AEGIS_JWT_SECRET: 'ui-secret-ui-secret-ui-secret-ui', AEGIS_MITRE_SOURCE: bundle, AEGIS_INTEL_FEEDS: '',
  AEGIS_MITRE_SYNC_CRON: '', AEGIS_INTEL_SCAN_CRON: '', RUST_LOG: 'warn',
};
const PASSWORD = 'pass-word-123';
let server, browser, base;
let passed = 0, failed = 0;
const watchdog = setTimeout(() => { console.error('timeout: e2e run exceeded 150 s'); cleanup().finally(() => process.exit(1)); }, 150_000);

async function cleanup() {
  try { if (browser) await browser.close(); } catch { /* ignore */ }
  if (server && server.exitCode === null) server.kill('SIGTERM');
  try { rmSync(dataDir, { recursive: true, force: true }); } catch { /* ignore */ }
}

function startServer() {
  return new Promise((res, rej) => {
    server = spawn(bin, [], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const timer = setTimeout(() => rej(new Error('server did not start: ' + out)), 60_000);
    server.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/listening on (http:\/\/[0-9.]+:\d+)/);
      if (m) { clearTimeout(timer); res(m[1]); }
    });
    server.stderr.on('data', (d) => { out += d; if (process.env.E2E_VERBOSE) process.stderr.write(d); });
    server.on('exit', (code) => { clearTimeout(timer); rej(new Error(`server exited (${code}): ${out}`)); });
  });
}

function createUser(username, role) {
  const r = spawnSync(bin, ['user', 'create', '--username', username, '--role', role, '--password-stdin'], { env, input: PASSWORD + '\n', encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`user create ${username}: ${r.stderr}`);
}

async function apiJson(path, token) {
  const res = await fetch(base + '/api/v1' + path, { headers: token ? { Authorization: 'Bearer ' + token } : {} });
  if (!res.ok) throw new Error(`${path}: ${res.status}`);
  return res.json();
}
async function apiToken(username, password) {
  const res = await fetch(base + '/api/v1/auth/login', { method: 'POST', body: new URLSearchParams({ username, password }) });
  if (!res.ok) throw new Error('login failed ' + res.status);
  return (await res.json()).access_token;
}

function assert(cond, msg) { if (!cond) throw new Error(msg); }

async function step(name, fn) {
  const t0 = Date.now();
  try { await fn(); passed++; console.log(`ok   - ${name} (${Date.now() - t0} ms)`); }
  catch (e) { failed++; console.log(`FAIL - ${name}: ${e && e.stack || e}`); }
}

let shotN = 0;
async function shot(page, name) { await page.screenshot({ path: join(shots, `${String(++shotN).padStart(2, '0')}-${name}.png`), fullPage: false }); }

async function login(username, password) {
  const context = await browser.newContext({ baseURL: base });
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.errors = errors;
  await page.goto('/');
  await page.waitForSelector('#login-submit');
  await page.fill('#username', username);
  await page.fill('#password', password);
  await page.click('#login-submit');
  await page.waitForSelector('#matrix .cell[data-mitre-id]');
  return page;
}

async function openTest(page, id) {
  await page.goto('/tests/' + id);
  await page.waitForSelector(`article.test[data-test-id="${id}"]`);
}

let testId;
try {
  base = await startServer();
  const adminToken = await apiToken('admin', 'admin-password');
  for (let i = 0; i < 100; i++) {
    const s = await apiJson('/metrics/summary', adminToken);
    if (s.total_techniques >= 691) break;
    await new Promise((r) => setTimeout(r, 300));
  }
  createUser('red', 'red_tech');
  createUser('lead', 'blue_lead');
  createUser('viewer', 'viewer');
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });

  await step('admin: matrix shows 14 tactics and all 691 techniques', async () => {
    const page = await login('admin', 'admin-password');
    await shot(page, 'matrix');
    const tactics = await page.locator('#matrix section.tactic').count();
    assert(tactics === 14, `expected 14 tactic columns, got ${tactics}`);
    const tops = await page.$$eval('#matrix .cell:not(.sub)', (els) => new Set(els.map((e) => e.dataset.mitreId)).size);
    assert(tops >= 216, `expected >= 216 top-level techniques, got ${tops}`);
    await page.click('#expand-all');
    const all = await page.$$eval('#matrix .cell[data-mitre-id]', (els) => new Set(els.map((e) => e.dataset.mitreId)).size);
    const api = (await apiJson('/techniques', adminToken)).length;
    assert(all === api && api === 691, `expected 691 distinct techniques, matrix has ${all}, API ${api}`);
    const visibleSub = await page.locator('#matrix .cell.sub[data-mitre-id="T1059.001"]').first().isVisible();
    assert(visibleSub, 'T1059.001 should be visible after expanding');
    await shot(page, 'matrix-expanded');
    // filter by search
    await page.fill('#filter-q', 'T1059.001');
    const shown = await page.$$eval('#matrix .cell[data-mitre-id]', (els) => els.filter((e) => e.offsetParent !== null).map((e) => e.dataset.mitreId));
    assert(shown.includes('T1059.001') && !shown.includes('T1003'), 'search filter should isolate T1059.001');
    assert(page.errors.length === 0, 'page errors: ' + page.errors.join('; '));
    await page.context().close();
  });

  await step('red: create a test on T1059.001 and upload evidence', async () => {
    const page = await login('red', PASSWORD);
    await page.locator('#matrix .cell[data-mitre-id="T1059"] > .expand').first().click();
    await page.locator('#matrix .cell[data-mitre-id="T1059.001"] a').first().click();
    await page.waitForSelector('article.technique[data-mitre-id="T1059.001"]');
    const descLinks = await page.$$eval('.description a', (as) => as.map((a) => a.getAttribute('rel')));
    assert(descLinks.length > 0 && descLinks.every((r) => r === 'noopener noreferrer'), 'description links must be rendered safely');
    await shot(page, 'technique');
    await page.fill('#test-name', 'PowerShell encoded command');
    await page.selectOption('#test-platform', 'windows');
    await page.fill('#test-procedure', 'powershell -enc <base64>');
    await page.fill('#test-tool', 'Atomic Red Team');
    await page.click('#create-test');
    await page.waitForURL(/\/tests\/[0-9a-f-]+$/);
    testId = page.url().split('/').pop();
    await page.waitForSelector('#evidence-file');
    await page.setInputFiles('#evidence-file', { name: 'capture.log', mimeType: 'text/plain', buffer: Buffer.from('process created: powershell.exe -enc ...\n') });
    const link = page.locator('#evidence-list a.download', { hasText: 'capture.log' });
    await link.waitFor();
    const href = await link.getAttribute('href');
    assert(href && href.includes('/evidence/'), 'download link expected, got ' + href);
    const dl = await fetch(new URL(href, base));
    assert(dl.ok, 'download link should work without a bearer token, got ' + dl.status);
    assert(await page.locator('#validate-test').count() === 0, 'red_tech must not see validate');
    await shot(page, 'test-red');
    assert(page.errors.length === 0, 'page errors: ' + page.errors.join('; '));
    await page.context().close();
  });

  await step('lead: validate the test as detected; matrix and dashboard update', async () => {
    assert(testId, 'no test id from the previous step');
    const page = await login('lead', PASSWORD);
    await openTest(page, testId);
    await page.selectOption('#validate-result', 'detected');
    await page.fill('#validate-comments', 'Seen by EDR rule 42');
    await page.click('#validate-test');
    await page.waitForSelector('article.test[data-state="validated"]');
    await shot(page, 'test-validated');
    await page.click('nav a[data-nav="matrix"]');
    await page.waitForSelector('#matrix .cell[data-mitre-id="T1059.001"]', { state: 'attached' });
    const st = await page.locator('#matrix .cell[data-mitre-id="T1059.001"]').first().getAttribute('data-status');
    assert(st === 'validated', 'T1059.001 status should be validated, got ' + st);
    await page.click('nav a[data-nav="dashboard"]');
    await page.waitForSelector('[data-metric="validated"]');
    const v = (await page.textContent('[data-metric="validated"]')).trim();
    assert(v === '1', 'dashboard validated count should be 1, got ' + v);
    await shot(page, 'dashboard');
    assert(page.errors.length === 0, 'page errors: ' + page.errors.join('; '));
    await page.context().close();
  });

  await step('viewer: no create, validate or admin controls', async () => {
    const page = await login('viewer', PASSWORD);
    assert(await page.locator('nav a[data-nav="admin"]').count() === 0, 'viewer must not see Admin');
    await page.goto('/techniques/T1059/001');
    await page.waitForSelector('article.technique');
    assert(await page.locator('#new-test-form').count() === 0, 'viewer must not see the new test form');
    assert(await page.locator('#mark-reviewed').count() === 0, 'viewer must not see mark reviewed');
    await shot(page, 'technique-viewer');
    await openTest(page, testId);
    for (const sel of ['#validate-test', '#reject-test', '#evidence-file', '#edit-test-form']) {
      assert(await page.locator(sel).count() === 0, `viewer must not see ${sel}`);
    }
    await shot(page, 'test-viewer');
    assert(page.errors.length === 0, 'page errors: ' + page.errors.join('; '));
    await page.context().close();
  });

  await step('admin: create a user on the Admin page', async () => {
    const page = await login('admin', 'admin-password');
    await page.click('nav a[data-nav="admin"]');
    await page.waitForSelector('#create-user-form');
    await page.fill('#new-username', 'analyst1');
    await page.fill('#new-email', 'analyst1@example.org');
    await page.fill('#new-password', 'analyst-pass-123');
    await page.selectOption('#new-role', 'blue_tech');
    await page.click('#create-user');
    await page.waitForSelector('#users-table tr[data-username="analyst1"]');
    await page.waitForSelector('#audit-table');
    await shot(page, 'admin');
    assert(page.errors.length === 0, 'page errors: ' + page.errors.join('; '));
    await page.context().close();
  });

  await step('session expiry: a bad token returns to login with a message', async () => {
    const context = await browser.newContext({ baseURL: base });
    const page = await context.newPage();
    await page.goto('/login');
    await page.evaluate(() => sessionStorage.setItem('aegis.token', 'not-a-valid-token'));
    await page.goto('/dashboard');
    await page.waitForSelector('#login-submit');
    const msg = await page.textContent('#status');
    assert(/session expired/i.test(msg), 'expected a session expired message, got ' + msg);
    await shot(page, 'session-expired');
    await context.close();
  });
} catch (e) {
  failed++;
  console.log('FAIL - setup: ' + (e && e.stack || e));
} finally {
  await cleanup();
  clearTimeout(watchdog);
}
console.log(`ui: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
