// No secret in any sink: a caller token, a wrong token, the provider key, the
// ClickHouse password and the admin token go through a gateway that runs
// every sink with bodies logged; then every sink's output is searched for
// them: the access logs, the SQLite file, the admin API, /metrics, the OTLP
// collector, the webhook and the ClickHouse table.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { startGateway, waitFor, withLogs } from './lib/gateway.mjs';
import { chatBody, credential, startWebhook } from './lib/governance.mjs';
import { postJson, request } from './lib/http.mjs';
import { startOpenAIUpstream } from './lib/openai_upstream.mjs';
import { startClickHouse } from './lib/sinks.mjs';

const caller = credential('caller');
const PROVIDER_KEY = 'sk-provider-key-7f3a9c1e5b';
const WRONG_TOKEN = 'sk-wrong-token-2d8e4f6a0c';
const CH_PASSWORD = 'ch-password-91b2c3d4';
const ADMIN_TOKEN = 'admin-token-5e6f7a8b';
const SECRETS = [caller.token, PROVIDER_KEY, WRONG_TOKEN, CH_PASSWORD, ADMIN_TOKEN];

let up;
let ch;
let hook;
let collector;
let gw;

before(async () => {
  up = await startOpenAIUpstream();
  ch = await startClickHouse({ password: CH_PASSWORD });
  hook = await startWebhook();
  collector = await startWebhook();
  gw = await startGateway(
    ({ port, adminPort }) => `version: 1
server: {listen: ["127.0.0.1:${port}"], workers: 1}
admin: {listen: "127.0.0.1:${adminPort}", token: "\${env:ADMIN_TOKEN}"}
providers:
  - {name: up, type: openai, base_url: "${up.url}", auth: {bearer: "\${env:PROVIDER_KEY}"}, models: [gpt-4o]}
auth:
  users: [{email: carol@example.com, token_sha256: ${caller.sha256}, models: ["*"]}]
rate_limits: [{id: one, when: {metadata: {case: rate}}, limit_to: 1, unit: requests_per_minute}]
logging: {log_bodies: true, flush_interval_ms: 20}
sinks:
  - {plugin: access-log}
  - {plugin: access-log, config: {format: json, path: ./access.jsonl}}
  - {plugin: sqlite, config: {path: ./requests.db}}
  - {plugin: prometheus, config: {metadata_labels: [case]}}
  - {plugin: otlp, config: {endpoint: "${collector.url}"}}
  - {plugin: webhook, config: {url: "${hook.url}"}}
  - {plugin: clickhouse, config: {url: "${ch.url}", user: sluice, password: "\${env:CH_PASSWORD}"}}
`,
    { env: { PROVIDER_KEY, CH_PASSWORD, ADMIN_TOKEN } },
  );
});

after(async () => {
  // Everything closed before the exit is checked: a listener left open
  // would keep node waiting, and a failed check would hang the suite.
  const exit = await gw?.stop();
  await Promise.all([ch?.stop(), hook?.close(), collector?.close(), up?.close()]);
  assert.deepEqual(exit, { code: 0, signal: null });
});

function assertClean(where, text) {
  for (const s of SECRETS) assert.ok(!text.includes(s), `${where} holds a secret (${s.slice(0, 8)}...)`);
}

test(
  'no token, provider key or password reaches any sink',
  withLogs(async () => {
    const auth = { authorization: `Bearer ${caller.token}` };
    const ids = [];
    const send = async (headers, body) => {
      const res = await postJson(`${gw.url}/v1/chat/completions`, body, { headers });
      ids.push(res.headers['x-sluice-request-id']);
      return res;
    };
    assert.equal((await send(auth, chatBody('up/gpt-4o', 'Hello'))).status, 200);
    assert.equal((await send(auth, chatBody('up/gpt-4o', 'Hi', { stream: true }))).status, 200);
    assert.equal((await send({ authorization: `Bearer ${WRONG_TOKEN}` }, chatBody('up/gpt-4o', 'Hi'))).status, 401);
    assert.equal((await send({ 'x-api-key': WRONG_TOKEN }, chatBody('up/gpt-4o', 'Hi'))).status, 401);
    const md = { ...auth, 'x-sluice-metadata': JSON.stringify({ case: 'rate' }) };
    assert.equal((await send(md, chatBody('up/gpt-4o', 'Hi'))).status, 200);
    assert.equal((await send(md, chatBody('up/gpt-4o', 'Hi'))).status, 429);
    // The upstream did get the provider key: the test would be vacuous otherwise.
    assert.equal(up.requests[0].headers.authorization, `Bearer ${PROVIDER_KEY}`);

    const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
    // Wait until every sink has all six records.
    await waitFor(async () => Number((await ch.query('SELECT count() FROM default.sluice_requests')).trim()) === 6, {
      timeoutMs: 15000,
      what: 'six rows in ClickHouse',
    });
    await waitFor(() => hook.posts.length >= 1 && collector.posts.length >= 1, { what: 'webhook and OTLP posts' });
    for (const id of ids) {
      const r = await waitFor(async () => {
        const x = await request(`${gw.adminUrl}/admin/requests/${id}`, { headers: admin });
        return x.status === 200 ? x : null;
      }, { what: `record ${id}` });
      assertClean(`/admin/requests/${id}`, r.text);
      assert.ok(r.json.request_body.includes('"model"'), 'bodies are logged here');
    }
    assertClean('/admin/requests', (await request(`${gw.adminUrl}/admin/requests?limit=100`, { headers: admin })).text);
    assertClean('/admin/analytics', (await request(`${gw.adminUrl}/admin/analytics?group_by=subject`, { headers: admin })).text);
    assertClean('/metrics', (await request(`${gw.adminUrl}/metrics`)).text);
    await waitFor(() => readFileSync(path.join(gw.dir, 'access.jsonl'), 'utf8').split('\n').filter(Boolean).length === 6, { what: 'six access-log lines' });
    assertClean('access.jsonl', readFileSync(path.join(gw.dir, 'access.jsonl'), 'utf8'));
    for (const f of readdirSync(gw.dir).filter((n) => n.startsWith('requests.db'))) {
      assertClean(f, readFileSync(path.join(gw.dir, f)).toString('latin1'));
    }
    assertClean('OTLP exports', collector.posts.map((p) => p.text).join('\n'));
    assertClean('webhook events', hook.posts.map((p) => p.text).join('\n'));
    assertClean('ClickHouse rows', await ch.query('SELECT * FROM default.sluice_requests FORMAT JSONEachRow'));
    assertClean('gateway stdout and stderr', gw.output);
  }),
);
