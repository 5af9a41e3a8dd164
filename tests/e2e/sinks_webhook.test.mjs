// The webhook sink: rate-limit and budget blocks, budget downgrades and
// budget threshold crossings POSTed as JSON events, or as Slack-compatible
// {"text": ...} messages; only the event types asked for.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { startGateway, waitFor, withLogs } from './lib/gateway.mjs';
import { chat, credential, governanceManifest, mockProvider, startWebhook } from './lib/governance.mjs';

const bob = credential('bob');
let hookJson;
let hookSlack;
let gw;

before(async () => {
  hookJson = await startWebhook();
  hookSlack = await startWebhook();
  gw = await startGateway(
    governanceManifest({
      providers: [
        mockProvider('mock', [{ name: 'm', pricing: { input_per_mtok: 0, output_per_mtok: 100 } }, 'cheap'], { reply: 'one two three four five' }),
      ],
      auth: {
        teams: [{ name: 'blue' }],
        users: [{ email: 'bob@example.com', token_sha256: bob.sha256, team: 'blue', models: ['*'] }],
      },
      rate_limits: [{ id: 'one-per-minute', when: { metadata: { case: 'rate' } }, limit_to: 1, unit: 'requests_per_minute' }],
      budgets: [
        // 5 words at $100 per million tokens = $0.0005 a request: 80% of $0.001 after the second.
        { id: 'tiny', when: { metadata: { case: 'budget' } }, limit_to: 0.001, unit: 'cost_per_day', alerts: { thresholds: [80] } },
        { id: 'shrink', when: { metadata: { case: 'downgrade' } }, limit_to: 0.0000001, unit: 'cost_per_day', on_exceed: { downgrade_to: 'mock/cheap' } },
      ],
      logging: { flush_interval_ms: 20 },
      sinks: [
        { plugin: 'webhook', config: { url: hookJson.url, headers: { authorization: 'Bearer hook-secret' } } },
        { plugin: 'webhook', config: { url: hookSlack.url, format: 'slack', events: ['rate_limit_blocked', 'budget_threshold'] } },
      ],
    }),
  );
});

after(async () => {
  const exit = await gw?.stop();
  await hookJson?.close();
  await hookSlack?.close();
  assert.deepEqual(exit, { code: 0, signal: null });
});

const ofType = (hook, type) => hook.posts.filter((p) => p.json?.type === type);

test(
  'a rate-limit block is POSTed as a JSON event and as a Slack message',
  withLogs(async () => {
    const md = { case: 'rate' };
    assert.equal((await chat(gw, { model: 'mock/m', token: bob.token, metadata: md })).status, 200);
    const refused = await chat(gw, { model: 'mock/m', token: bob.token, metadata: md });
    assert.equal(refused.status, 429);
    const [e] = await waitFor(() => (ofType(hookJson, 'rate_limit_blocked').length ? ofType(hookJson, 'rate_limit_blocked') : null), { what: 'the JSON event' });
    assert.equal(e.method, 'POST');
    assert.equal(e.headers['content-type'], 'application/json');
    assert.equal(e.headers.authorization, 'Bearer hook-secret');
    assert.deepEqual({ ...e.json, time: undefined }, {
      type: 'rate_limit_blocked', rule: 'one-per-minute', request_id: refused.headers['x-sluice-request-id'], time: undefined,
      subject: 'user:bob@example.com', team: 'blue', model: 'mock/m', status: 429, metadata: { case: 'rate' },
    });
    assert.match(e.json.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const slack = await waitFor(() => hookSlack.posts.find((p) => /rate limit/.test(p.json?.text ?? '')), { what: 'the Slack message' });
    assert.deepEqual(Object.keys(slack.json), ['text']);
    assert.equal(
      slack.json.text,
      `Sluice: rate limit 'one-per-minute' blocked a request from user:bob@example.com (team blue) for model mock/m, request ${refused.headers['x-sluice-request-id']}`,
    );
  }),
);

test(
  'a budget threshold crossing and a downgrade are events; Slack gets only what it asked for',
  withLogs(async () => {
    for (let i = 0; i < 2; i++) {
      const res = await chat(gw, { model: 'mock/m', token: bob.token, metadata: { case: 'budget' }, extra: { max_tokens: 5 } });
      assert.equal(res.status, 200, res.text);
    }
    const [t] = await waitFor(() => (ofType(hookJson, 'budget_threshold').length ? ofType(hookJson, 'budget_threshold') : null), { what: 'the threshold event' });
    assert.equal(t.json.budget, 'tiny');
    assert.equal(t.json.threshold_percent, 80);
    assert.equal(t.json.unit, 'cost_per_day');
    const slack = await waitFor(() => hookSlack.posts.find((p) => /budget 'tiny' reached 80%/.test(p.json?.text ?? '')), { what: 'the Slack threshold message' });
    assert.match(slack.json.text, /^Sluice: budget 'tiny' reached 80% for everyone \(0\.001 of 0\.001, cost_per_day\)$/);

    for (let i = 0; i < 2; i++) await chat(gw, { model: 'mock/m', token: bob.token, metadata: { case: 'downgrade' } });
    const [d] = await waitFor(() => (ofType(hookJson, 'budget_downgraded').length ? ofType(hookJson, 'budget_downgraded') : null), { what: 'the downgrade event' });
    assert.equal(d.json.rule, 'shrink');
    assert.equal(hookSlack.posts.filter((p) => /downgraded/.test(p.json?.text ?? '')).length, 0, 'not in the Slack sink\'s events');
  }),
);

test(
  'an unknown event type stops the gateway with the sink named',
  withLogs(async () => {
    const { runSluice, writeManifest } = await import('./lib/gateway.mjs');
    const file = writeManifest(`version: 1
server: {listen: ["127.0.0.1:0"]}
providers: [{name: mock, type: mock, models: [m]}]
sinks: [{plugin: webhook, config: {url: "http://127.0.0.1:9/x", events: [rate_limit_blocked, coffee_spilled]}}]
`);
    const r = await runSluice(['serve', '-c', file]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /sinks\[0\] \(webhook\): events: unknown event type 'coffee_spilled'/);
  }),
);
