// Virtual models, retries and fallback against three mock upstreams that fail
// on command: fallback order, retry counts and delays, Retry-After, statuses
// outside the fallback list, connection resets and refusals, a hang before
// the first byte (timeout_ms), X-Sluice-TTFT-Timeout-Ms (408), a stream that
// breaks after its first byte (no fallback, an error event), overrides, and
// the x-sluice-resolved-model / -applied-rules / -attempts headers.
// Circuit breakers are off here (failures: 0): routing_breaker.test.mjs has them.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { freePort, withLogs } from './lib/gateway.mjs';
import { assertApiError } from './lib/governance.mjs';
import { parseChatStream, request, streamText } from './lib/http.mjs';
import { chat, resetUpstreams, routingManifest, routingSuite } from './lib/routing.mjs';
import { sdk } from './lib/suite.mjs';

const NO_BREAKER = 'circuit_breaker: {failures: 0}';

const ctx = routingSuite(['a', 'b', 'c'], async (ups) => {
  const deadPort = await freePort();
  return routingManifest(ups, {
    models: ['gpt-4o', 'gpt-4o-mini'],
    extraProviders: `  - name: dead
    type: openai
    base_url: "http://127.0.0.1:${deadPort}/v1"
    auth: {bearer: sk-dead}
    models: [gpt-4o]
`,
    virtualModels: [
      'prod/chat',
      'prod/retry',
      'prod/timeouts',
      'prod/nofallback',
      'prod/overrides',
      'prod/refused',
      'prod/gold',
    ],
    routing: `  - id: gold-only
    when: {models: [prod/gold], metadata: {tier: gold}}
    targets: [{target: up-b/gpt-4o, ${NO_BREAKER}}]
  - id: chat
    when: {models: [prod/chat]}
    strategy: priority
    targets:
      - {target: up-c/gpt-4o, priority: 2, ${NO_BREAKER}}
      - {target: up-a/gpt-4o, priority: 0, ${NO_BREAKER}}
      - {target: up-b/gpt-4o, priority: 1, ${NO_BREAKER}}
  - id: retry
    when: {models: [prod/retry]}
    targets:
      - {target: up-a/gpt-4o, retry_config: {attempts: 2, delay_ms: 300}, ${NO_BREAKER}}
      - {target: up-b/gpt-4o, ${NO_BREAKER}}
  - id: timeouts
    when: {models: [prod/timeouts]}
    targets:
      - {target: up-a/gpt-4o, timeout_ms: 400, ${NO_BREAKER}}
      - {target: up-b/gpt-4o, ${NO_BREAKER}}
  - id: nofallback
    when: {models: [prod/nofallback]}
    targets:
      - {target: up-a/gpt-4o, fallback_status_codes: [503], ${NO_BREAKER}}
      - {target: up-b/gpt-4o, ${NO_BREAKER}}
  - id: refused
    when: {models: [prod/refused]}
    targets:
      - {target: dead/gpt-4o, ${NO_BREAKER}}
      - {target: up-b/gpt-4o, ${NO_BREAKER}}
  - id: overrides
    when: {models: [prod/overrides]}
    targets:
      - target: up-c/gpt-4o
        override_params: {temperature: 0.1, max_tokens: 7, seed: 42}
        headers_override: {set: {x-tenant: blue}, remove: [OpenAI-Organization]}
  - id: reroute-direct
    when: {models: [up-c/gpt-4o-mini]}
    targets: [up-b/gpt-4o]
`,
  });
});

// A 200 from `target` after the attempts `x-sluice-attempts` lists.
function assertAnswered(res, target, attempts) {
  assert.equal(res.status, 200, res.text);
  assert.equal(res.headers['x-sluice-resolved-model'], target);
  assert.equal(res.headers['x-sluice-attempts'], attempts);
}

function counts() {
  const { a, b, c } = ctx.ups;
  return [a.requests.length, b.requests.length, c.requests.length];
}

const OPENAI_503 = {
  status: 503,
  json: { error: { message: 'The server is overloaded.', type: 'server_error', param: null, code: null } },
};

test(
  'a virtual model answers from its first target; headers name the target, the rule and one attempt',
  withLogs(async () => {
    const res = await chat(ctx.gw, 'prod/chat');
    assert.equal(res.status, 200, res.text);
    assert.equal(res.headers['x-sluice-resolved-model'], 'up-a/gpt-4o');
    assert.equal(res.headers['x-sluice-provider'], 'up-a');
    assert.equal(res.headers['x-sluice-applied-rules'], 'chat');
    assert.equal(res.headers['x-sluice-attempts'], '1');
    assert.ok(res.json.choices[0].message.content.length > 0);
    assert.deepEqual(counts(), [1, 0, 0]);
    assert.equal(ctx.ups.a.last().body.model, 'gpt-4o', 'the upstream gets its own model name');
    assert.equal(ctx.ups.a.last().headers.authorization, 'Bearer sk-up-a');
    // The official SDK sees a normal completion.
    const r = await sdk(ctx.gw).chat.completions.create({ model: 'prod/chat', messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(typeof r.choices[0].message.content, 'string');
  }),
);

test(
  'falls back in priority order on 503, 500, 429, 401; x-sluice-attempts lists the failures',
  withLogs(async () => {
    for (const status of [500, 429, 401]) {
      resetUpstreams(ctx.ups);
      ctx.ups.a.always(OPENAI_503);
      ctx.ups.b.always({ status, json: { error: { message: `b ${status}`, type: 'x', param: null, code: null } } });
      const res = await chat(ctx.gw, 'prod/chat');
      assertAnswered(res, 'up-c/gpt-4o', `3; up-a/gpt-4o=503; up-b/gpt-4o=${status}`);
      assert.deepEqual(counts(), [1, 1, 1]);
      const [a, b, c] = [ctx.ups.a.last().at, ctx.ups.b.last().at, ctx.ups.c.last().at];
      assert.ok(a <= b && b <= c, 'a, then b, then c');
    }
  }),
);

test(
  'every target fails: the last answer passes through, x-sluice-attempts names all three',
  withLogs(async () => {
    ctx.ups.a.always(OPENAI_503);
    ctx.ups.b.always(OPENAI_503);
    ctx.ups.c.always({
      status: 502,
      json: { error: { message: 'c is down', type: 'server_error', param: null, code: 'c_down' } },
    });
    const res = await chat(ctx.gw, 'prod/chat');
    assert.equal(res.status, 502);
    assert.equal(res.json.error.message, 'c is down');
    assert.equal(res.headers['x-sluice-attempts'], '3; up-a/gpt-4o=503; up-b/gpt-4o=503; up-c/gpt-4o=502');
    assert.equal(res.headers['x-sluice-applied-rules'], 'chat');
    assert.deepEqual(counts(), [1, 1, 1]);
  }),
);

test(
  'a status outside fallback_status_codes passes through with no fallback',
  withLogs(async () => {
    // 400 is the client's mistake: no default list falls back on it.
    ctx.ups.a.once({ status: 400, json: { error: { message: 'bad temperature', type: 'invalid_request_error', param: 'temperature', code: null } } });
    let res = await chat(ctx.gw, 'prod/chat');
    assert.equal(res.status, 400);
    assert.equal(res.json.error.param, 'temperature');
    assert.equal(res.headers['x-sluice-attempts'], '1; up-a/gpt-4o=400');
    assert.deepEqual(counts(), [1, 0, 0]);
    // fallback_status_codes: [503] — a 429 from a is the client's answer.
    ctx.ups.a.once({ status: 429, json: { error: { message: 'slow down', type: 'requests', param: null, code: 'rate_limit_exceeded' } } });
    res = await chat(ctx.gw, 'prod/nofallback');
    assert.equal(res.status, 429);
    assert.equal(res.json.error.message, 'slow down');
    assert.deepEqual(counts(), [2, 0, 0]);
  }),
);

test(
  'retries with delay_ms between attempts, then falls back',
  withLogs(async () => {
    ctx.ups.a.always(OPENAI_503);
    const res = await chat(ctx.gw, 'prod/retry');
    assert.equal(res.status, 200, res.text);
    assert.equal(res.headers['x-sluice-resolved-model'], 'up-b/gpt-4o');
    assert.equal(
      res.headers['x-sluice-attempts'],
      '4; up-a/gpt-4o=503; up-a/gpt-4o=503; up-a/gpt-4o=503',
    );
    const at = ctx.ups.a.requests.map((r) => r.at);
    assert.equal(at.length, 3, '1 attempt + 2 retries');
    for (let i = 1; i < at.length; i++) {
      assert.ok(at[i] - at[i - 1] >= 295, `retry ${i} waited ${at[i] - at[i - 1]} ms (delay_ms 300)`);
    }
    assert.equal(ctx.ups.b.requests.length, 1);
  }),
);

test(
  "an upstream's Retry-After is honoured when longer than delay_ms",
  withLogs(async () => {
    ctx.ups.a.once({ ...OPENAI_503, status: 429, headers: { 'retry-after': '1' } });
    const res = await chat(ctx.gw, 'prod/retry');
    assertAnswered(res, 'up-a/gpt-4o', '2; up-a/gpt-4o=429');
    const [first, second] = ctx.ups.a.requests.map((r) => r.at);
    assert.ok(second - first >= 995, `waited ${second - first} ms for Retry-After: 1`);
    // retry-after-ms, as OpenAI's own SDKs read it.
    resetUpstreams(ctx.ups);
    ctx.ups.a.once({ ...OPENAI_503, headers: { 'retry-after-ms': '700' } });
    await chat(ctx.gw, 'prod/retry');
    const [x, y] = ctx.ups.a.requests.map((r) => r.at);
    assert.ok(y - x >= 695, `waited ${y - x} ms for retry-after-ms: 700`);
  }),
);

test(
  'a Retry-After longer than 30 s is not waited for: the next target answers at once',
  withLogs(async () => {
    ctx.ups.a.once({ ...OPENAI_503, status: 429, headers: { 'retry-after': '120' } });
    const started = Date.now();
    const res = await chat(ctx.gw, 'prod/retry');
    assertAnswered(res, 'up-b/gpt-4o', '2; up-a/gpt-4o=429');
    assert.ok(Date.now() - started < 10000);
    assert.deepEqual(counts(), [1, 1, 0]);
  }),
);

test(
  'connection reset and connection refused fall back',
  withLogs(async () => {
    // Every time: the client resends once by itself when a pooled keep-alive
    // connection turns out dead, and that resend must fail too.
    ctx.ups.a.always({ reset: true });
    let res = await chat(ctx.gw, 'prod/chat');
    assertAnswered(res, 'up-b/gpt-4o', '2; up-a/gpt-4o=reset');
    res = await chat(ctx.gw, 'prod/refused');
    assertAnswered(res, 'up-b/gpt-4o', '2; dead/gpt-4o=connect');
  }),
);

test(
  'a hang before the first byte: timeout_ms ends the attempt and the next target answers',
  withLogs(async () => {
    ctx.ups.a.always({ hang: true });
    const res = await chat(ctx.gw, 'prod/timeouts');
    assertAnswered(res, 'up-b/gpt-4o', '2; up-a/gpt-4o=total_timeout');
    assert.deepEqual(counts(), [1, 1, 0]);
  }),
);

test(
  'X-Sluice-TTFT-Timeout-Ms: a late first token fails the attempt and the next target streams',
  withLogs(async () => {
    ctx.ups.a.always({ hangAfterHead: true }); // head at once, no token
    const stream = await sdk(ctx.gw, '/v1', { defaultHeaders: { 'X-Sluice-TTFT-Timeout-Ms': '300' } })
      .chat.completions.create({ model: 'prod/chat', stream: true, messages: [{ role: 'user', content: 'hi' }] })
      .withResponse();
    assert.equal(stream.response.headers.get('x-sluice-resolved-model'), 'up-b/gpt-4o');
    assert.equal(stream.response.headers.get('x-sluice-attempts'), '2; up-a/gpt-4o=ttft_timeout');
    let text = '';
    for await (const chunk of stream.data) text += chunk.choices[0]?.delta?.content ?? '';
    assert.ok(text.length > 0, 'the fallback streamed text');
    // Not a target failure: whole answers time out the same way.
    ctx.ups.a.always({ delayMs: 2000 });
    const res = await chat(ctx.gw, 'prod/chat', { headers: { 'x-sluice-ttft-timeout-ms': '300' } });
    assert.equal(res.status, 200);
    assert.equal(res.headers['x-sluice-attempts'], '2; up-a/gpt-4o=ttft_timeout');
  }),
);

test(
  'X-Sluice-TTFT-Timeout-Ms on the last target: 408 ttft_timeout',
  withLogs(async () => {
    ctx.ups.a.always({ hangAfterHead: true });
    const res = await chat(ctx.gw, 'up-a/gpt-4o', { stream: true, headers: { 'x-sluice-ttft-timeout-ms': '250' } });
    const e = assertApiError(res, 408, { type: 'timeout_error', code: 'ttft_timeout' });
    assert.equal(e.message, "no first token from 'up-a/gpt-4o' within 250 ms (X-Sluice-TTFT-Timeout-Ms)");
    assert.equal(res.headers['x-sluice-attempts'], '1; up-a/gpt-4o=ttft_timeout');
  }),
);

test(
  'an X-Sluice-TTFT-Timeout-Ms that is not a number of milliseconds: 400 naming the header',
  withLogs(async () => {
    for (const value of ['abc', '0', '-5', '1.5', '99999999']) {
      const res = await chat(ctx.gw, 'prod/chat', { headers: { 'x-sluice-ttft-timeout-ms': value } });
      assertApiError(res, 400, {
        code: 'invalid_header',
        param: 'X-Sluice-TTFT-Timeout-Ms',
        message: 'X-Sluice-TTFT-Timeout-Ms must be a whole number of milliseconds from 1 to 3600000',
      });
    }
    assert.deepEqual(counts(), [0, 0, 0]);
  }),
);

test(
  'a target that fails before its first event is replaced without the streaming client noticing',
  withLogs(async () => {
    ctx.ups.a.always(OPENAI_503);
    ctx.ups.b.always({ sse: 'text', writes: 3 });
    const res = await chat(ctx.gw, 'prod/chat', { stream: true });
    assert.equal(res.status, 200);
    assert.match(res.headers['content-type'], /^text\/event-stream/);
    assert.equal(res.headers['x-sluice-attempts'], '2; up-a/gpt-4o=503');
    const { chunks, done } = parseChatStream(res.text);
    assert.ok(done, 'the stream ends with [DONE]');
    assert.ok(streamText(chunks).length > 0);
  }),
);

test(
  'a stream that breaks after its first byte ends with an error event; no fallback',
  withLogs(async () => {
    ctx.ups.a.always({ sse: 'text', writes: 6, resetAfter: 3 });
    const res = await chat(ctx.gw, 'prod/chat', { stream: true });
    assert.equal(res.status, 200);
    const { events, done } = parseChatStream(res.text);
    assert.ok(!done, 'no [DONE] after a broken stream');
    const last = JSON.parse(events[events.length - 1].data);
    assert.equal(last.error.code, 'upstream_error');
    assert.match(last.error.message, /upstream 'up-a' failed: reset/);
    assert.ok(events.length > 1, 'text came before the error');
    assert.deepEqual(counts(), [1, 0, 0], 'nothing falls back once the client has bytes');
  }),
);

test(
  'override_params merge into the body and headers_override sets and removes headers',
  withLogs(async () => {
    const res = await chat(ctx.gw, 'prod/overrides', { body: { temperature: 0.9, top_p: 0.5 } });
    assert.equal(res.status, 200, res.text);
    const r = ctx.ups.c.last();
    assert.equal(r.body.temperature, 0.1);
    assert.equal(r.body.max_tokens, 7);
    assert.equal(r.body.seed, 42);
    assert.equal(r.body.top_p, 0.5, 'what is not overridden stays');
    assert.equal(r.body.model, 'gpt-4o');
    assert.equal(r.headers['x-tenant'], 'blue');
    assert.equal(r.headers['openai-organization'], undefined);
    assert.equal(r.headers.authorization, 'Bearer sk-up-c');
    // Other rules' targets keep their headers.
    await chat(ctx.gw, 'prod/chat');
    assert.equal(ctx.ups.a.last().headers['openai-organization'], 'org-a');
    assert.equal(ctx.ups.a.last().headers['x-tenant'], undefined);
  }),
);

test(
  'rules match on metadata; a virtual model no rule matches is a 400; a rule can reroute a direct name',
  withLogs(async () => {
    let res = await chat(ctx.gw, 'prod/gold', { headers: { 'x-sluice-metadata': '{"tier":"gold"}' } });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.headers['x-sluice-resolved-model'], 'up-b/gpt-4o');
    assert.equal(res.headers['x-sluice-applied-rules'], 'gold-only');
    res = await chat(ctx.gw, 'prod/gold', { headers: { 'x-sluice-metadata': '{"tier":"silver"}' } });
    assertApiError(res, 400, {
      code: 'no_matching_route',
      param: 'model',
      message: "no routing rule for virtual model 'prod/gold' matches this request (check its X-Sluice-Metadata)",
    });
    res = await chat(ctx.gw, 'up-c/gpt-4o-mini');
    assert.equal(res.status, 200);
    assert.equal(res.headers['x-sluice-resolved-model'], 'up-b/gpt-4o');
    assert.equal(res.headers['x-sluice-applied-rules'], 'reroute-direct');
    // A direct name no rule matches goes straight to its model, no rule named.
    res = await chat(ctx.gw, 'up-c/gpt-4o');
    assert.equal(res.headers['x-sluice-resolved-model'], 'up-c/gpt-4o');
    assert.equal(res.headers['x-sluice-applied-rules'], undefined);
    assert.equal(res.headers['x-sluice-attempts'], '1');
  }),
);

test(
  'GET /models lists the virtual models before the provider models',
  withLogs(async () => {
    const res = await request(`${ctx.gw.url}/v1/models`);
    assert.equal(res.status, 200);
    const ids = res.json.data.map((m) => m.id);
    assert.deepEqual(ids.slice(0, 7), [
      'prod/chat',
      'prod/retry',
      'prod/timeouts',
      'prod/nofallback',
      'prod/overrides',
      'prod/refused',
      'prod/gold',
    ]);
    assert.ok(ids.includes('up-a/gpt-4o'));
    assert.equal(res.json.data[0].owned_by, 'sluice');
  }),
);
