// The /ui dashboard in headless Chromium (Debian's, driven by playwright-core):
// the login page takes the admin token; after real requests through the
// gateway the overview counts them, the request log lists them, a request's
// detail shows its timing waterfall, rules and findings, and the limits page
// shows the live counters. Screenshots go under the build dir.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { chromium } from 'playwright-core';

import { BUILD_DIR, startGateway, tempDir, withLogs } from './lib/gateway.mjs';
import { chat, credential, governanceManifest, mockProvider } from './lib/governance.mjs';
import { waitForRecord } from './lib/sinks.mjs';

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SHOTS = path.join(BUILD_DIR, 'screenshots');
const ADMIN = 'dashboard-admin-token';
const alice = credential('alice');
const bob = credential('bob');

let gw;
let browser;
let page;
const ids = [];

before(async () => {
  gw = await startGateway(({ port, adminPort }) =>
    governanceManifest({
      admin: { listen: `127.0.0.1:${adminPort}`, token: ADMIN },
      providers: [
        mockProvider('mock', [{ name: 'gpt', pricing: { input_per_mtok: 500, output_per_mtok: 1500 } }, 'small'], { reply: 'a fine answer to that' }),
      ],
      auth: {
        teams: [{ name: 'payments', members: ['alice@example.com'] }, { name: 'research', members: ['bob@example.com'] }],
        users: [
          { email: 'alice@example.com', token_sha256: alice.sha256, models: ['*'] },
          { email: 'bob@example.com', token_sha256: bob.sha256, models: ['mock/small'] },
        ],
      },
      // Per day, like the budget: a per-minute window could end between the requests and the
      // page that shows them, and the page would read a fresh window.
      rate_limits: [{ id: 'per-caller', limit_to: 100, unit: 'requests_per_day', applies_per: ['subject'] }],
      budgets: [{ id: 'team-daily', limit_to: 10, unit: 'cost_per_day', applies_per: ['team'] }],
      logging: { flush_interval_ms: 20 },
      sinks: [{ plugin: 'sqlite', config: { path: './requests.db' } }, { plugin: 'prometheus' }],
    })({ port, adminPort }),
  );
  for (let i = 0; i < 4; i++) {
    const r = await chat(gw, { model: 'mock/gpt', token: alice.token, metadata: { project: 'checkout' }, extra: { max_tokens: 50 } });
    assert.equal(r.status, 200);
    ids.push(r.headers['x-sluice-request-id']);
  }
  for (let i = 0; i < 2; i++) assert.equal((await chat(gw, { model: 'mock/small', token: bob.token, extra: { max_tokens: 50 } })).status, 200);
  const denied = await chat(gw, { model: 'mock/gpt', token: bob.token });
  assert.equal(denied.status, 403);
  ids.push(denied.headers['x-sluice-request-id']);
  await waitForRecord(gw, denied.headers['x-sluice-request-id'], { authorization: `Bearer ${ADMIN}` });

  mkdirSync(SHOTS, { recursive: true });
  // A fresh profile per run (launchPersistentContext passes it as --user-data-dir).
  browser = await chromium.launchPersistentContext(tempDir('sluice-chromium-'), {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 900 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  page = browser.pages()[0] ?? (await browser.newPage());
});

after(async () => {
  await browser?.close();
  assert.deepEqual(await gw?.stop(), { code: 0, signal: null });
});

async function loaded(view) {
  await page.waitForFunction((v) => document.body.dataset.loaded === v && !document.body.dataset.loading, view, { timeout: 15000 });
  assert.equal(await page.locator('#error').isHidden(), true, await page.locator('#error').textContent());
}

async function shot(name) {
  const file = path.join(SHOTS, `dashboard-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  assert.ok(existsSync(file) && statSync(file).size > 10000, `${file} written`);
}

test(
  'the dashboard asks for the admin token, then shows the overview of real traffic',
  withLogs(async () => {
    const res = await page.goto(`${gw.adminUrl}/ui`);
    assert.equal(res.status(), 401);
    await page.fill('#token', 'not-the-token');
    await page.click('button[type=submit]');
    await page.waitForSelector('#token');
    await page.fill('#token', ADMIN);
    await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
    await loaded('overview');
    assert.equal(await page.textContent('#total-requests'), '7');
    assert.equal(await page.textContent('#total-failures'), '1');
    assert.match(await page.textContent('#total-cost'), /^\$0\.0\d+$/);
    const models = await page.locator('#by-model tr').allTextContents();
    assert.ok(models.some((t) => t.startsWith('mock/gpt51')), models.join(' | ')); // 5 requests, the 403 one failed
    assert.ok(models.some((t) => t.startsWith('mock/small20')), models.join(' | '));
    const teams = await page.locator('#by-team tr').allTextContents();
    assert.ok(teams.some((t) => t.startsWith('payments4')) && teams.some((t) => t.startsWith('research3')), teams.join(' | '));
    assert.ok((await page.locator('#chart-requests rect').count()) > 0);
    await shot('overview');
  }),
);

test(
  'the request log lists the requests, filters them, and opens a detail with the waterfall',
  withLogs(async () => {
    await page.goto(`${gw.adminUrl}/ui#requests`);
    await loaded('requests');
    const rows = page.locator('#request-log tr.row');
    assert.equal(await rows.count(), 7);
    for (const id of ids) assert.equal(await page.locator(`#request-log tr[data-id="${id}"]`).count(), 1, id);
    await page.fill('input[name=team]', 'research');
    await page.click('#filters button');
    await page.waitForFunction(() => document.querySelectorAll('#request-log tr.row').length === 3);
    await page.fill('input[name=team]', '');
    await page.fill('input[name=status]', '403');
    await page.click('#filters button');
    await page.waitForFunction(() => document.querySelectorAll('#request-log tr.row').length === 1);
    assert.match(await page.textContent('#request-log tr.row'), /model_not_allowed/);
    await shot('requests');

    await page.goto(`${gw.adminUrl}/ui#request/${ids[0]}`);
    await loaded('request');
    assert.equal(await page.textContent('#detail-title'), 'POST /v1/chat/completions → 200');
    const facts = await page.textContent('#detail-facts');
    for (const want of [ids[0], 'user:alice@example.com', 'payments', 'mock/gpt', 'project=checkout']) assert.ok(facts.includes(want), want);
    for (const phase of ['auth', 'route', 'upstream', 'ttft', 'total']) {
      assert.equal(await page.locator(`#waterfall .phase[data-phase="${phase}"]`).count(), 1, phase);
    }
    assert.deepEqual(await page.locator('#detail-rules li').allTextContents(), ['per-caller', 'team-daily']);
    assert.equal(await page.textContent('#detail-findings'), 'guardrailhooktypecountactionnone');
    await shot('request-detail');
  }),
);

test(
  'the limits page shows rate-limit counters and budget spend',
  withLogs(async () => {
    await page.goto(`${gw.adminUrl}/ui#limits`);
    await loaded('limits');
    assert.match(await page.textContent('#state-line'), /State backend: memory \(connected/);
    const rates = (await page.locator('#rate-limits tr').allTextContents()).join('\n');
    assert.match(rates, /per-callerrequests_per_daysubject=user:alice@example\.com496100/);
    const budgets = (await page.locator('#budgets tr').allTextContents()).join('\n');
    assert.match(budgets, /team-dailycost_per_dayteam=payments\$0\.0\d+/);
    await shot('limits');
  }),
);
