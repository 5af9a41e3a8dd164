// The request record and the admin API over the sqlite sink: a record for
// every request (answered by the provider, refused by auth, metadata, access
// or a rate limit), /admin/requests filters and paging, /admin/requests/{id},
// /admin/analytics, the logging rules for bodies, retention by rows, and the
// errors each of these gives on bad input.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { startGateway, withLogs } from './lib/gateway.mjs';
import {
  assertApiError,
  chat,
  chatBody,
  credential,
  governanceManifest,
  mockProvider,
} from './lib/governance.mjs';
import { parseChatStream, postJson, request } from './lib/http.mjs';
import { adminRequests, waitForRecord } from './lib/sinks.mjs';

const alice = credential('alice');
const bob = credential('bob');
const ADMIN = 'admin-token-for-tests';
const admin = { authorization: `Bearer ${ADMIN}` };
const REPLY = 'one two three four five';

let gw;

before(async () => {
  gw = await startGateway(({ port, adminPort }) =>
    governanceManifest({
      admin: { listen: `127.0.0.1:${adminPort}`, token: ADMIN },
      providers: [
        mockProvider('mock', [{ name: 'm', pricing: { input_per_mtok: 1000, output_per_mtok: 2000 } }, 'n'], {
          reply: REPLY,
        }),
        mockProvider('slow', ['s'], { reply: REPLY, chunk_delay_ms: 20 }),
      ],
      auth: {
        teams: [{ name: 'red', members: ['alice@example.com'] }, { name: 'blue' }],
        users: [
          { email: 'alice@example.com', token_sha256: alice.sha256, models: ['*'] },
          { email: 'bob@example.com', token_sha256: bob.sha256, team: 'blue', models: ['mock/m'] },
        ],
      },
      rate_limits: [{ id: 'two-per-minute', when: { metadata: { suite: 'limit' } }, limit_to: 2, unit: 'requests_per_minute', applies_per: ['subject'] }],
      logging: { log_bodies: false, caller_may_enable_bodies: false, max_body_bytes: 64, flush_interval_ms: 20 },
      sinks: [{ plugin: 'sqlite', config: { path: './requests.db' } }],
    })({ port, adminPort }),
  );
});

after(async () => {
  const exit = await gw?.stop();
  assert.deepEqual(exit, { code: 0, signal: null });
});

test(
  'a proxied request leaves a whole record: identity, models, usage, cost, phases, trace',
  withLogs(async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const res = await chat(gw, {
      model: 'mock/m',
      content: 'Hello there friend',
      token: alice.token,
      metadata: { project: 'p1', env: 'test' },
      headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01` },
    });
    assert.equal(res.status, 200);
    const id = res.headers['x-sluice-request-id'];
    const r = await waitForRecord(gw, id, admin);
    assert.equal(r.schema_version, 1);
    assert.equal(r.id, id);
    assert.equal(r.method, 'POST');
    assert.equal(r.path, '/v1/chat/completions');
    assert.equal(r.client_ip, '127.0.0.1');
    assert.equal(r.subject, 'user:alice@example.com');
    assert.equal(r.team, 'red');
    assert.deepEqual(r.metadata, { project: 'p1', env: 'test' });
    assert.equal(r.requested_model, 'mock/m');
    assert.equal(r.resolved_model, 'mock/m');
    assert.equal(r.provider, 'mock');
    assert.equal(r.provider_type, 'mock');
    assert.equal(r.status, 200);
    assert.equal(r.error_code, null);
    assert.equal(r.stream, false);
    // The mock's usage: ceil(18 chars / 4) = 5 prompt tokens, 5 words.
    assert.deepEqual(r.usage, { prompt_tokens: 5, completion_tokens: 5, cached_tokens: 0, estimated: false });
    assert.ok(Math.abs(r.cost_usd - (5 * 1000 + 5 * 2000) / 1e6) < 1e-12, `cost ${r.cost_usd}`);
    assert.equal(r.trace_id, traceId);
    assert.equal(r.parent_span_id, '00f067aa0ba902b7');
    assert.match(r.span_id, /^[0-9a-f]{16}$/);
    for (const k of ['auth_ms', 'route_ms', 'upstream_ms', 'ttft_ms', 'total_ms']) {
      assert.equal(typeof r.phases[k], 'number', `phases.${k}`);
      assert.ok(r.phases[k] >= 0);
    }
    assert.ok(r.phases.total_ms >= r.phases.ttft_ms);
    assert.ok(r.end_ms >= r.start_ms && Math.abs(r.start_ms - Date.now()) < 60000);
    assert.equal(r.request_body, undefined, 'bodies are off by default');
    assert.equal(r.response_body, undefined);
  }),
);

test(
  'requests answered before the provider are recorded with their status and code',
  withLogs(async () => {
    const cases = [
      [await chat(gw, { model: 'mock/m' }), 401, 'missing_api_key', null],
      [await chat(gw, { model: 'mock/m', token: 'sk-nobody' }), 401, 'invalid_api_key', null],
      [await chat(gw, { model: 'mock/n', token: bob.token }), 403, 'model_not_allowed', 'user:bob@example.com'],
      [await chat(gw, { model: 'mock/missing', token: alice.token }), 404, 'model_not_found', 'user:alice@example.com'],
      [await chat(gw, { model: 'mock/m', token: alice.token, metadata: '{"x": 1}' }), 400, 'invalid_metadata', 'user:alice@example.com'],
    ];
    for (const [res, status, code, subject] of cases) {
      assert.equal(res.status, status, res.text);
      const r = await waitForRecord(gw, res.headers['x-sluice-request-id'], admin);
      assert.equal(r.status, status);
      assert.equal(r.error_code, code);
      assert.equal(r.subject, subject);
      assert.equal(r.resolved_model, null);
      assert.equal(r.path, '/v1/chat/completions');
      assert.ok(r.phases.total_ms >= 0);
    }
    const models = await request(`${gw.url}/v1/models`, { headers: { authorization: `Bearer ${bob.token}` } });
    assert.equal(models.status, 200);
    const r = await waitForRecord(gw, models.headers['x-sluice-request-id'], admin);
    assert.equal(r.method, 'GET');
    assert.equal(r.path, '/v1/models');
    assert.equal(r.status, 200);
  }),
);

test(
  'a rate-limit refusal records the rule as an event and an applied rule',
  withLogs(async () => {
    const md = { suite: 'limit' };
    for (let i = 0; i < 2; i++) assert.equal((await chat(gw, { model: 'mock/m', token: bob.token, metadata: md })).status, 200);
    const refused = await chat(gw, { model: 'mock/m', token: bob.token, metadata: md });
    assert.equal(refused.status, 429);
    const r = await waitForRecord(gw, refused.headers['x-sluice-request-id'], admin);
    assert.equal(r.status, 429);
    assert.equal(r.error_code, 'rate_limit_exceeded');
    assert.deepEqual(r.events, [{ rule: 'two-per-minute', kind: 'rate_limit', action: 'blocked' }]);
    assert.deepEqual(r.applied_rules, ['two-per-minute']);
    assert.equal(r.resolved_model, null, 'never reached a provider');
  }),
);

test(
  'a stream is recorded with its flag, usage from the final chunk, TTFT and time per output token',
  withLogs(async () => {
    const res = await postJson(`${gw.url}/v1/chat/completions`, chatBody('slow/s', 'Hi', { stream: true }), {
      headers: { authorization: `Bearer ${alice.token}` },
    });
    assert.equal(res.status, 200);
    const stream = parseChatStream(res.text);
    assert.ok(stream.done && stream.chunks.length > 0);
    const r = await waitForRecord(gw, res.headers['x-sluice-request-id'], admin);
    assert.equal(r.stream, true);
    assert.equal(r.usage.completion_tokens, 5);
    assert.equal(r.usage.estimated, false);
    assert.ok(r.phases.ttft_ms > 0);
    assert.ok(r.phases.tpot_ms > 0, 'five words, 20 ms apart');
  }),
);

test(
  'bodies: off unless allowed; a caller may not turn them on here; a malformed header is a 400',
  withLogs(async () => {
    const on = await chat(gw, {
      model: 'mock/m',
      token: alice.token,
      headers: { 'x-sluice-logging-config': '{"log_bodies": true}' },
    });
    assert.equal(on.status, 200);
    const r = await waitForRecord(gw, on.headers['x-sluice-request-id'], admin);
    assert.equal(r.request_body, undefined, 'caller_may_enable_bodies is false');

    const bad = await chat(gw, {
      model: 'mock/m',
      token: alice.token,
      headers: { 'x-sluice-logging-config': '{"log_body": true}' },
    });
    assertApiError(bad, 400, {
      code: 'invalid_logging_config',
      param: 'X-Sluice-Logging-Config',
      message: "X-Sluice-Logging-Config: unknown key 'log_body' (known: log_bodies)",
    });
    const notBool = await chat(gw, {
      model: 'mock/m',
      token: alice.token,
      headers: { 'x-tfy-logging-config': '{"log_bodies": "yes"}' },
    });
    assertApiError(notBool, 400, {
      code: 'invalid_logging_config',
      message: "X-Sluice-Logging-Config: 'log_bodies' must be true or false",
    });
    const notJson = await chat(gw, { model: 'mock/m', token: alice.token, headers: { 'x-sluice-logging-config': 'yes' } });
    assertApiError(notJson, 400, { code: 'invalid_logging_config', message: /must be a JSON object/ });
  }),
);

test(
  '/admin/requests filters by subject, team, model, status and metadata, newest first, with paging',
  withLogs(async () => {
    const tag = `run-${Date.now()}`;
    const ids = [];
    for (let i = 0; i < 5; i++) {
      const res = await chat(gw, { model: 'mock/m', token: alice.token, metadata: { tag, i: String(i) } });
      ids.push(res.headers['x-sluice-request-id']);
    }
    const bobRes = await chat(gw, { model: 'mock/m', token: bob.token, metadata: { tag } });
    await waitForRecord(gw, bobRes.headers['x-sluice-request-id'], admin);

    const all = await adminRequests(gw, { 'metadata.tag': tag }, admin);
    assert.equal(all.status, 200, all.text);
    assert.equal(all.json.requests.length, 6);
    assert.equal(all.json.requests[0].id, bobRes.headers['x-sluice-request-id'], 'newest first');

    const byTeam = await adminRequests(gw, { 'metadata.tag': tag, team: 'blue' }, admin);
    assert.deepEqual(byTeam.json.requests.map((r) => r.subject), ['user:bob@example.com']);
    const bySubject = await adminRequests(gw, { 'metadata.tag': tag, subject: 'user:alice@example.com' }, admin);
    assert.equal(bySubject.json.requests.length, 5);
    const byMeta = await adminRequests(gw, { 'metadata.tag': tag, 'metadata.i': '3' }, admin);
    assert.deepEqual(byMeta.json.requests.map((r) => r.id), [ids[3]]);
    const byModel = await adminRequests(gw, { 'metadata.tag': tag, model: 'mock/n' }, admin);
    assert.equal(byModel.json.requests.length, 0);
    const failures = await adminRequests(gw, { status: '4xx', limit: '1000' }, admin);
    assert.ok(failures.json.requests.length >= 1);
    assert.ok(failures.json.requests.every((r) => r.status >= 400 && r.status < 500));
    const since = await adminRequests(gw, { 'metadata.tag': tag, from: new Date(Date.now() + 60000).toISOString().replace(/\.\d+Z$/, 'Z') }, admin);
    assert.equal(since.json.requests.length, 0, 'from in the future');

    // Pages of two: 2 + 2 + 2, then no cursor.
    const seen = [];
    let cursor;
    for (let page = 0; page < 3; page++) {
      const params = { 'metadata.tag': tag, limit: '2' };
      if (cursor) params.cursor = cursor;
      const p = await adminRequests(gw, params, admin);
      assert.equal(p.json.requests.length, 2);
      seen.push(...p.json.requests.map((r) => r.id));
      cursor = p.json.next_cursor;
    }
    assert.equal(cursor, null);
    assert.deepEqual(seen, all.json.requests.map((r) => r.id));
  }),
);

test(
  '/admin/requests and /admin/analytics name the bad parameter',
  withLogs(async () => {
    const cases = [
      ['/admin/requests?limit=0', 'limit', "'limit' must be an integer from 1 to 1000 (got '0')"],
      ['/admin/requests?status=abc', 'status', /'status' must be a status code/],
      ['/admin/requests?from=yesterday', 'from', /'from' must be epoch milliseconds or an ISO 8601 UTC time/],
      ['/admin/requests?colour=red', 'colour', /unknown parameter 'colour'/],
      ['/admin/analytics?group_by=colour', 'group_by', /'group_by' must be model, provider, subject, team or metadata.KEY/],
      ['/admin/analytics?bucket=week', 'bucket', "'bucket' must be minute, hour or day (got 'week')"],
    ];
    for (const [path, param, message] of cases) {
      const res = await request(`${gw.adminUrl}${path}`, { headers: admin });
      assertApiError(res, 400, { code: 'invalid_parameter', param, message });
    }
    const missing = await request(`${gw.adminUrl}/admin/requests/req_nope`, { headers: admin });
    assertApiError(missing, 404, { code: 'request_not_found', message: "no request 'req_nope' in the request log" });
    const noToken = await request(`${gw.adminUrl}/admin/requests`);
    assertApiError(noToken, 401, { code: 'invalid_admin_token' });
    const post = await request(`${gw.adminUrl}/admin/requests`, { method: 'POST', headers: admin });
    assertApiError(post, 405, { code: 'method_not_allowed' });
  }),
);

test(
  '/admin/analytics groups requests, failures, tokens, cost and latency percentiles, per bucket',
  withLogs(async () => {
    const tag = `an-${Date.now()}`;
    for (let i = 0; i < 3; i++) await chat(gw, { model: 'mock/m', token: alice.token, metadata: { tag } });
    const last = await chat(gw, { model: 'mock/missing', token: alice.token, metadata: { tag } });
    await waitForRecord(gw, last.headers['x-sluice-request-id'], admin);

    const res = await request(`${gw.adminUrl}/admin/analytics?group_by=model&bucket=minute&metadata.tag=${tag}`, { headers: admin });
    assert.equal(res.status, 200, res.text);
    const a = res.json;
    assert.equal(a.group_by, 'model');
    assert.equal(a.bucket_ms, 60000);
    const m = a.groups.find((g) => g.key === 'mock/m');
    assert.equal(m.requests, 3);
    assert.equal(m.failures, 0);
    assert.equal(m.completion_tokens, 15);
    assert.ok(m.cost_usd > 0);
    assert.ok(m.latency_ms.p50 > 0 && m.latency_ms.p50 <= m.latency_ms.p95 && m.latency_ms.p95 <= m.latency_ms.p99);
    assert.ok(m.ttft_ms.p50 > 0);
    const missing = a.groups.find((g) => g.key === 'mock/missing');
    assert.equal(missing.requests, 1);
    assert.equal(missing.failures, 1);
    const inSeries = a.series.filter((s) => s.key === 'mock/m').reduce((n, s) => n + s.requests, 0);
    assert.equal(inSeries, 3);
    assert.ok(a.series.every((s) => s.bucket_start_ms % 60000 === 0));

    const byTeam = await request(`${gw.adminUrl}/admin/analytics?group_by=team&metadata.tag=${tag}`, { headers: admin });
    assert.deepEqual(byTeam.json.groups.map((g) => [g.key, g.requests]), [['red', 4]]);
    const byMeta = await request(`${gw.adminUrl}/admin/analytics?group_by=metadata.tag&metadata.tag=${tag}`, { headers: admin });
    assert.deepEqual(byMeta.json.groups.map((g) => [g.key, g.requests]), [[tag, 4]]);
  }),
);

test(
  'without a sink that answers queries the admin log says what to add',
  withLogs(async () => {
    const plain = await startGateway(governanceManifest({ providers: [mockProvider('mock', ['m'])] }));
    try {
      for (const path of ['/admin/requests', '/admin/requests/x', '/admin/analytics']) {
        const res = await request(`${plain.adminUrl}${path}`);
        assertApiError(res, 501, { code: 'no_query_sink', message: /needs a sink that answers queries: add \{plugin: sqlite\} to `sinks`/ });
      }
    } finally {
      assert.deepEqual(await plain.stop(), { code: 0, signal: null });
    }
  }),
);

test(
  'bodies are logged, cut to max_body_bytes, where the manifest allows and the caller does not opt out',
  withLogs(async () => {
    const logged = await startGateway(
      governanceManifest({
        providers: [mockProvider('mock', ['m'], { reply: REPLY })],
        logging: { log_bodies: true, max_body_bytes: 40 },
        sinks: [{ plugin: 'sqlite', config: { path: './requests.db', max_rows: 3 } }],
      }),
    );
    try {
      const yes = await chat(logged, { model: 'mock/m', content: 'é'.repeat(30) });
      const r = await waitForRecord(logged, yes.headers['x-sluice-request-id']);
      // Cut at 40 bytes, never inside a character: the longest whole-character prefix.
      let expected = '';
      for (const ch of chatBody('mock/m', 'é'.repeat(30))) {
        if (Buffer.byteLength(expected + ch) > 40) break;
        expected += ch;
      }
      assert.equal(r.request_body, expected);
      assert.ok(Buffer.byteLength(r.response_body) <= 40);
      assert.ok(r.response_body.startsWith('{"id":"chatcmpl-mock'));

      const no = await chat(logged, { model: 'mock/m', headers: { 'x-sluice-logging-config': '{"log_bodies": false}' } });
      const r2 = await waitForRecord(logged, no.headers['x-sluice-request-id']);
      assert.equal(r2.request_body, undefined, 'the caller turned bodies off');

      // Retention by rows: max_rows 3 keeps the newest three.
      const ids = [];
      for (let i = 0; i < 4; i++) ids.push((await chat(logged, { model: 'mock/m' })).headers['x-sluice-request-id']);
      await waitForRecord(logged, ids[3]);
      const page = await adminRequests(logged, { limit: '10' });
      assert.deepEqual(page.json.requests.map((x) => x.id), [ids[3], ids[2], ids[1]]);
    } finally {
      assert.deepEqual(await logged.stop(), { code: 0, signal: null });
    }
  }),
);
