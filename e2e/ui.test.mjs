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
// A local RSS 2.0 feed (a file path is a valid feed address) with one item naming two techniques.
const feedPath = join(dataDir, 'e2e-feed.xml');
const INTEL_TITLE = 'Phishing campaign drops PowerShell loader';
writeFileSync(feedPath, `<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>E2E intel</title><link>https://intel.example.org/</link><description>test feed</description>
<item><title>${INTEL_TITLE}</title><link>https://intel.example.org/advisories/1</link><guid>e2e-advisory-1</guid>
<pubDate>Mon, 06 Jan 2025 10:00:00 GMT</pubDate>
<description>Spearphishing attachments (T1566.001) launch PowerShell (T1059.001) to fetch the payload.</description></item>
</channel></rss>
`);
const env = {
  ...process.env, AEGIS_DATA_DIR: dataDir, AEGIS_BIND: '127.0.0.1:0', AEGIS_ADMIN_PASSWORD: 'admin-password',
  AEGIS_JWT_SECRET: 'ui-secret-ui-secret-ui-secret-ui', AEGIS_MITRE_SOURCE: bundle, AEGIS_INTEL_FEEDS: feedPath,
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

  await step('lead: dashboard history shows the validation; exports download', async () => {
    const page = await login('lead', PASSWORD);
    await page.click('nav a[data-nav="dashboard"]');
    await page.waitForSelector('#history');
    const rows = await page.locator('#history tbody tr').count();
    assert(rows >= 1, 'the validation that changed a status is a point of the history, got ' + rows);
    for (const [id, name] of [['#export-layer', 'aegis-navigator-layer.json'], ['#export-csv', 'aegis-coverage.csv'], ['#export-report', 'aegis-coverage-report.html']]) {
      const [file] = await Promise.all([page.waitForEvent('download'), page.click(id)]);
      assert(file.suggestedFilename() === name, 'download name ' + file.suggestedFilename());
      const path = await file.path();
      const text = (await import('node:fs')).readFileSync(path, 'utf8');
      if (name.endsWith('.json')) assert(JSON.parse(text).versions.layer === '4.5', 'a Navigator layer');
      if (name.endsWith('.csv')) assert(text.startsWith('mitre_id,name,tactics'), 'the CSV header');
      if (name.endsWith('.html')) assert(text.includes('<html') && text.includes('T1059.001'), 'the report');
    }
    await shot(page, 'dashboard-history-exports');
    assert(page.errors.length === 0, 'page errors: ' + page.errors.join('; '));
    await page.context().close();
  });

  await step('admin: import an Atomic Red Team technique file on the System page', async () => {
    const yamlPath = join(dataDir, 'T1059.001.yaml');
    writeFileSync(yamlPath, [
      'attack_technique: T1059.001',
      'display_name: PowerShell',
      'atomic_tests:',
      '- name: Download cradle',
      '  auto_generated_guid: 11111111-2222-3333-4444-555555555555',
      '  description: Runs an encoded command.',
      '  supported_platforms: [windows]',
      '  executor:',
      '    name: powershell',
      '    command: powershell -enc AAAA',
      ''].join('\n'));
    const page = await login('admin', 'admin-password');
    await page.click('nav a[data-nav="admin"]');
    await page.waitForSelector('#atomics-file', { state: 'attached' });
    await page.setInputFiles('#atomics-file', yamlPath);
    await page.click('#import-atomics');
    await page.waitForSelector('#atomics-result');
    const text = await page.textContent('#atomics-result');
    assert(text.includes('1 new'), 'import result: ' + text);
    await page.locator('#atomics-result').scrollIntoViewIfNeeded();
    await shot(page, 'atomics-import');
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

  await step('admin: audit log lists, filters by action and pages', async () => {
    // more than one page (25 rows) of entries: extra audited logins through the API
    // (one at a time: the login throttle counts in-flight attempts)
    for (let i = 0; i < 26; i++) await apiToken('viewer', PASSWORD);
    const page = await login('admin', 'admin-password');
    await page.click('nav a[data-nav="admin"]');
    await page.waitForSelector('#audit-table tbody tr');
    const actions = () => page.$$eval('#audit-table tbody tr', (trs) => trs.map((tr) => tr.children[2].textContent.trim()));
    const all = await actions();
    assert(all.length === 25, 'first page should show 25 rows, got ' + all.length);
    assert(all.includes('login'), 'audit log should show login rows');
    const pager = page.locator('#audit .pager');
    const prev = pager.locator('button', { hasText: 'Previous' });
    const next = pager.locator('button', { hasText: 'Next' });
    const range = async () => (await pager.locator('span').textContent()).trim();
    assert(await prev.isDisabled(), 'Previous must be disabled on the first page');
    assert(await next.isEnabled(), 'Next must be enabled when there are more entries');
    const first = await range();
    const total = Number(first.match(/of (\d+)/)[1]);
    assert(/^1–25 of \d+$/.test(first) && total > 25, 'unexpected pager text ' + first);
    await shot(page, 'audit-page1');
    await next.click();
    await page.waitForFunction(() => /^26–/.test(document.querySelector('#audit .pager span').textContent));
    assert(await prev.isEnabled(), 'Previous must be enabled on the second page');
    assert((await next.isEnabled()) === (total > 50), 'Next state wrong on page 2 (total ' + total + ')');
    const page2 = await actions();
    assert(page2.length === Math.min(25, total - 25), 'second page row count ' + page2.length);
    // the earliest entries are on the last page: create_test must be in the log somewhere
    const api = await apiJson('/audit-logs?action=create_test', adminToken);
    assert(api.total >= 1, 'create_test should be audited');
    await shot(page, 'audit-page2');
    await prev.click();
    await page.waitForFunction(() => /^1–25 /.test(document.querySelector('#audit .pager span').textContent));
    // filter by action
    await page.selectOption('#audit-action', 'validate_test');
    await page.click('#audit-apply');
    await page.waitForFunction(() => {
      const rows = [...document.querySelectorAll('#audit-table tbody tr')];
      return rows.length > 0 && rows.every((tr) => tr.children[2].textContent.trim() === 'validate_test');
    });
    const filtered = await actions();
    assert(filtered.length === 1 && filtered[0] === 'validate_test', 'filter should show exactly the validate_test entry, got ' + filtered.join(','));
    assert(/^1–1 of 1$/.test(await range()), 'filtered pager text ' + (await range()));
    assert(await prev.isDisabled() && await next.isDisabled(), 'pager buttons should be disabled for a single page');
    await shot(page, 'audit-filtered');
    assert(page.errors.length === 0, 'page errors: ' + page.errors.join('; '));
    await page.context().close();
  });

  await step('admin: system scheduler jobs and intel scan with a feed', async () => {
    const page = await login('admin', 'admin-password');
    await page.click('nav a[data-nav="admin"]');
    await page.waitForSelector('#jobs-table tbody tr');
    const jobs = await page.$$eval('#jobs-table tbody tr', (trs) => trs.map((tr) => tr.children[0].textContent.trim()));
    // the table shows job names; the API gives each name's id
    const status = await apiJson('/system/scheduler-status', adminToken);
    const byId = Object.fromEntries(status.jobs.map((j) => [j.id, j.name]));
    assert(byId.mitre_sync && byId.intel_scan, 'API should report mitre_sync and intel_scan, got ' + Object.keys(byId).join(','));
    assert(jobs.length === status.jobs.length && jobs.includes(byId.mitre_sync) && jobs.includes(byId.intel_scan), 'scheduler table should list every job, got ' + jobs.join(','));
    await page.locator('#system').scrollIntoViewIfNeeded();
    await shot(page, 'system');
    await page.click('#run-intel-scan');
    const feedRow = page.locator('#system-result table tbody tr');
    await feedRow.first().waitFor();
    const rows = await feedRow.evaluateAll((trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent.trim())));
    assert(rows.length === 1, 'expected one scanned feed, got ' + rows.length);
    assert(rows[0][0].includes('e2e-feed.xml'), 'feed name should be the file path, got ' + rows[0][0]);
    assert(rows[0][2] === '1' && rows[0][3] === '', `feed should report 1 new item without error, got ${rows[0].join(' | ')}`);
    const summary = await page.textContent('#system-result p');
    assert(/1 new items/.test(summary), 'scan summary: ' + summary);
    // the scheduler table is reloaded after the scan and shows the manual run's status
    await page.waitForFunction((name) => [...document.querySelectorAll('#jobs-table tbody tr')].some((tr) => tr.children[0].textContent.trim() === name && tr.children[4].textContent.trim() === 'ok'), byId.intel_scan, { timeout: 5_000 });
    await shot(page, 'intel-scan');
    assert(page.errors.length === 0, 'page errors: ' + page.errors.join('; '));
    await page.context().close();
  });

  await step('lead: intel flag on T1566.001 shows the item and can be marked reviewed', async () => {
    const page = await login('lead', PASSWORD);
    await page.goto('/techniques/T1566/001');
    await page.waitForSelector('article.technique[data-mitre-id="T1566.001"]');
    assert(await page.locator('article.technique header .badge.review').count() === 1, 'review badge expected');
    const reason = await page.textContent('.review-box ul');
    assert(reason.includes(INTEL_TITLE) && reason.includes('T1566.001'), 'review reason should name the intel item, got ' + reason);
    const intel = await page.textContent('section[aria-labelledby="intel-h"]');
    assert(intel.includes(INTEL_TITLE), 'intel item should be linked to the technique');
    await shot(page, 'technique-flagged');
    await page.click('#mark-reviewed');
    await page.waitForSelector('#mark-reviewed', { state: 'detached' });
    await page.waitForSelector('article.technique[data-mitre-id="T1566.001"]');
    assert(await page.locator('article.technique header .badge.review').count() === 0, 'review badge should be gone');
    assert(await page.locator('.review-box ul').count() === 0, 'no open review reasons expected');
    const last = await page.textContent('.review-box');
    assert(/Last reviewed by lead/.test(last), 'last reviewed note expected, got ' + last);
    await shot(page, 'technique-reviewed');
    const t = await apiJson('/techniques/T1566.001', adminToken);
    assert(t.review_required === false, 'API should report the flag cleared');
    assert(page.errors.length === 0, 'page errors: ' + page.errors.join('; '));
    await page.context().close();
  });

  await step('reject and edit: lead rejects a draft, red edits it back to draft', async () => {
    const red = await login('red', PASSWORD);
    await red.goto('/techniques/T1566/001');
    await red.waitForSelector('#new-test-form');
    await red.fill('#test-name', 'Macro attachment');
    await red.fill('#test-procedure', 'open invoice.docm');
    await red.click('#create-test');
    await red.waitForURL(/\/tests\/[0-9a-f-]+$/);
    const draftId = red.url().split('/').pop();
    await red.waitForSelector('article.test[data-state="draft"]');
    const lead = await login('lead', PASSWORD);
    await openTest(lead, draftId);
    await lead.fill('#validate-comments', 'Missing the payload hash');
    await lead.click('#reject-test');
    await lead.waitForSelector('article.test[data-state="rejected"]');
    assert(await lead.locator('#review-form').count() === 0, 'no review form on a rejected test');
    await shot(lead, 'test-rejected');
    await openTest(red, draftId);
    await red.waitForSelector('article.test[data-state="rejected"]');
    const facts = await red.textContent('dl.facts');
    assert(facts.includes('Missing the payload hash') && facts.includes('lead'), 'rejection comments and reviewer expected, got ' + facts);
    await red.click('#edit-test-form >> xpath=.. >> summary');
    await red.fill('#edit-tool', 'Office macro kit');
    await red.fill('#edit-description', 'Payload SHA-256 recorded in evidence');
    await shot(red, 'test-edit');
    await red.click('#save-test');
    await red.waitForSelector('article.test[data-state="draft"]');
    const facts2 = await red.textContent('dl.facts');
    assert(facts2.includes('Office macro kit'), 'edited tool should be shown, got ' + facts2);
    assert((await red.textContent('#test-state')).trim().toLowerCase() === 'draft', 'state badge should be draft');
    const t = await apiJson('/tests/' + draftId, adminToken);
    assert(t.state === 'draft' && t.tool_used === 'Office macro kit', `API state ${t.state}, tool ${t.tool_used}`);
    await shot(red, 'test-edited-draft');
    for (const p of [red, lead]) assert(p.errors.length === 0, 'page errors: ' + p.errors.join('; '));
    await red.context().close();
    await lead.context().close();
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
