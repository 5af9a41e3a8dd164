// Every error the contract names: status code, OpenAI error shape, code,
// param and message; upstream errors passed through; upstream failures
// mapped to 502/504; request limits 413/431.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import OpenAI from 'openai';

import { freePort, openaiManifest, withLogs } from './lib/gateway.mjs';
import { postJson, request } from './lib/http.mjs';
import { fixtureJson } from './lib/openai_upstream.mjs';
import { REQUEST_ID, gatewaySuite, sdk } from './lib/suite.mjs';

const FIRST_BYTE_TIMEOUT_MS = 600;
const MAX_BODY_BYTES = 65536;

const ctx = gatewaySuite(async (up) => {
  const deadPort = await freePort();
  return openaiManifest(up.url, {
    server: `  upstream: {connect_timeout_ms: 2000, first_byte_timeout_ms: ${FIRST_BYTE_TIMEOUT_MS}, total_timeout_ms: 20000}
  limits: {max_body_bytes: ${MAX_BODY_BYTES}}
`,
    providers: `  - name: dead
    type: openai
    base_url: "http://127.0.0.1:${deadPort}/v1"
    auth: {bearer: sk-dead-789}
    models: [gpt-4o]
`,
  });
});

const messages = [{ role: 'user', content: 'Say foo' }];
const chatUrl = () => `${ctx.gw.url}/v1/chat/completions`;

// Asserts an OpenAI-shaped error answer and returns its `error` object.
function assertError(res, status, { code, param, type } = {}) {
  assert.equal(res.status, status, `status (body: ${res.text.slice(0, 500)})`);
  assert.match(res.headers['content-type'] ?? '', /^application\/json/);
  assert.ok(res.json && typeof res.json === 'object', `JSON body: ${res.text.slice(0, 500)}`);
  const e = res.json.error;
  assert.ok(e && typeof e === 'object', `error object: ${res.text}`);
  assert.deepEqual(Object.keys(e).sort(), ['code', 'message', 'param', 'type']);
  assert.equal(typeof e.message, 'string');
  assert.ok(e.message.length > 0);
  assert.equal(typeof e.type, 'string');
  assert.ok(e.type.length > 0);
  if (code !== undefined) assert.equal(e.code, code);
  if (param !== undefined) assert.equal(e.param, param);
  if (type !== undefined) assert.equal(e.type, type);
  for (const secret of ['sk-test-123', 'sk-dead-789']) {
    assert.ok(!res.text.includes(secret), 'no secret in an error body');
  }
  return e;
}

test(
  'unknown model: 404 model_not_found naming the model (SDK and raw)',
  withLogs(async () => {
    for (const model of ['up/gpt-5-nonexistent', 'nosuchprovider/gpt-4o']) {
      const res = await postJson(chatUrl(), { model, messages });
      const e = assertError(res, 404, { code: 'model_not_found', type: 'invalid_request_error' });
      assert.ok(e.message.includes(model), `message names the model: ${e.message}`);
      assert.match(res.headers['x-sluice-request-id'] ?? '', REQUEST_ID);
    }
    await assert.rejects(sdk(ctx.gw).chat.completions.create({ model: 'up/gpt-5-nonexistent', messages }), (err) => {
      assert.ok(err instanceof OpenAI.NotFoundError, `NotFoundError, got ${err}`);
      assert.equal(err.status, 404);
      assert.equal(err.code, 'model_not_found');
      return true;
    });
    assert.equal(ctx.up.requests.length, 0, 'nothing reached the upstream');
  }),
);

test(
  'malformed JSON: 400 saying the JSON is invalid',
  withLogs(async () => {
    const res = await request(chatUrl(), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"model": "up/gpt-4o", "messages": [',
    });
    const e = assertError(res, 400, { type: 'invalid_request_error' });
    assert.match(e.message, /(invalid|not valid) JSON/i);
    assert.equal(ctx.up.requests.length, 0);
  }),
);

test(
  'JSON that is not an object: 400',
  withLogs(async () => {
    const res = await postJson(chatUrl(), '[1, 2, 3]');
    assertError(res, 400, { type: 'invalid_request_error' });
    assert.equal(ctx.up.requests.length, 0);
  }),
);

test(
  'missing "model": 400 with param model',
  withLogs(async () => {
    const res = await postJson(chatUrl(), { messages });
    const e = assertError(res, 400, { param: 'model', type: 'invalid_request_error' });
    assert.match(e.message, /\bmodel\b/);
    assert.equal(ctx.up.requests.length, 0);
  }),
);

test(
  'missing "messages": 400 with param messages (raw and SDK)',
  withLogs(async () => {
    const res = await postJson(chatUrl(), { model: 'up/gpt-4o' });
    const e = assertError(res, 400, { param: 'messages', type: 'invalid_request_error' });
    assert.match(e.message, /\bmessages\b/);
    await assert.rejects(sdk(ctx.gw).chat.completions.create({ model: 'up/gpt-4o' }), (err) => {
      assert.ok(err instanceof OpenAI.BadRequestError, `BadRequestError, got ${err}`);
      assert.equal(err.status, 400);
      assert.equal(err.param, 'messages');
      return true;
    });
    assert.equal(ctx.up.requests.length, 0);
  }),
);

test(
  '"messages" that is not an array: 400 with param messages, upstream not called',
  withLogs(async () => {
    for (const messages of ['hello', { role: 'user', content: 'hi' }, 42]) {
      const res = await postJson(chatUrl(), { model: 'up/gpt-4o', messages });
      const e = assertError(res, 400, { param: 'messages', type: 'invalid_request_error' });
      assert.match(e.message, /\bmessages\b/);
    }
    assert.equal(ctx.up.requests.length, 0);
  }),
);

const UPSTREAM_ERRORS = [
  { status: 400, json: fixtureJson('vercel-ai/reasoning-model-legacy-parameter-error.json') },
  {
    status: 401,
    json: {
      error: {
        message: 'Incorrect API key provided.',
        type: 'invalid_request_error',
        param: null,
        code: 'invalid_api_key',
      },
    },
  },
  {
    status: 429,
    json: {
      error: {
        message:
          'Rate limit reached for gpt-4o in organization org-x on tokens per min (TPM): Limit 30000, Used 30000, Requested 120.',
        type: 'tokens',
        param: null,
        code: 'rate_limit_exceeded',
      },
    },
  },
  {
    status: 500,
    json: {
      error: {
        message: 'The server had an error while processing your request. Sorry about that!',
        type: 'server_error',
        param: null,
        code: null,
      },
    },
  },
  {
    status: 503,
    json: {
      error: {
        message: 'The engine is currently overloaded, please try again later',
        type: 'server_error',
        param: null,
        code: null,
      },
    },
  },
];

test(
  'upstream 4xx/5xx: status and the upstream error body pass through',
  withLogs(async () => {
    for (const spec of UPSTREAM_ERRORS) {
      ctx.up.reset();
      ctx.up.always(spec);
      const res = await postJson(chatUrl(), { model: 'up/gpt-4o', messages, max_tokens: 5 });
      assert.equal(res.status, spec.status, `upstream ${spec.status}: ${res.text}`);
      assert.match(res.headers['content-type'] ?? '', /^application\/json/);
      assert.deepEqual(res.json, spec.json, `upstream ${spec.status} body`);
      assert.ok(ctx.up.requests.length >= 1);
    }
  }),
);

test(
  'upstream 400 through the SDK: BadRequestError with the upstream code and param',
  withLogs(async () => {
    ctx.up.always(UPSTREAM_ERRORS[0]);
    await assert.rejects(
      sdk(ctx.gw).chat.completions.create({ model: 'up/gpt-4o', messages, max_tokens: 5 }),
      (err) => {
        assert.ok(err instanceof OpenAI.BadRequestError, `BadRequestError, got ${err}`);
        assert.equal(err.status, 400);
        assert.equal(err.code, 'unsupported_parameter');
        assert.equal(err.param, 'max_tokens');
        assert.equal(err.error.message, UPSTREAM_ERRORS[0].json.error.message);
        return true;
      },
    );
  }),
);

test(
  'upstream error on a streaming request: a JSON error, not an event stream',
  withLogs(async () => {
    ctx.up.always(UPSTREAM_ERRORS[2]);
    const res = await postJson(chatUrl(), { model: 'up/gpt-4o', messages, stream: true });
    assert.equal(res.status, 429);
    assert.match(res.headers['content-type'] ?? '', /^application\/json/);
    assert.deepEqual(res.json, UPSTREAM_ERRORS[2].json);
  }),
);

test(
  'upstream connection refused: 502',
  withLogs(async () => {
    const res = await postJson(chatUrl(), { model: 'dead/gpt-4o', messages });
    assertError(res, 502);
    assert.equal(res.headers['x-sluice-provider'] ?? 'dead', 'dead');
  }),
);

test(
  'upstream resets the connection: 502',
  withLogs(async () => {
    ctx.up.always({ reset: true });
    const res = await postJson(chatUrl(), { model: 'up/gpt-4o', messages });
    assertError(res, 502);
    assert.ok(ctx.up.requests.length >= 1, 'the request reached the upstream');
  }),
);

test(
  'upstream sends no first byte in time: 504 after first_byte_timeout_ms',
  withLogs(async () => {
    ctx.up.always({ hang: true });
    const started = Date.now();
    const res = await postJson(chatUrl(), { model: 'up/gpt-4o', messages }, { timeoutMs: 15000 });
    const elapsed = Date.now() - started;
    assertError(res, 504);
    assert.ok(elapsed >= FIRST_BYTE_TIMEOUT_MS - 50, `answered after ${elapsed} ms, before the timeout`);
    assert.ok(ctx.up.requests.length >= 1);
  }),
);

test(
  'streaming request, upstream sends no first byte in time: 504',
  withLogs(async () => {
    ctx.up.always({ hang: true });
    const res = await postJson(chatUrl(), { model: 'up/gpt-4o', messages, stream: true }, { timeoutMs: 15000 });
    assertError(res, 504);
  }),
);

test(
  'body larger than server.limits.max_body_bytes: 413 (Content-Length and chunked)',
  withLogs(async () => {
    const big = JSON.stringify({
      model: 'up/gpt-4o',
      messages: [{ role: 'user', content: 'a'.repeat(MAX_BODY_BYTES * 2) }],
    });
    const res = await postJson(chatUrl(), big);
    const e = assertError(res, 413);
    assert.match(e.message, /too large|exceeds|limit/i);

    const pieces = [];
    for (let i = 0; i < big.length; i += 8192) pieces.push(big.slice(i, i + 8192));
    const chunked = await request(chatUrl(), {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
      body: pieces,
    });
    assertError(chunked, 413);

    // Just under the limit still works.
    const fits = JSON.stringify({
      model: 'up/gpt-4o',
      messages: [{ role: 'user', content: 'b'.repeat(MAX_BODY_BYTES - 200) }],
    });
    assert.ok(Buffer.byteLength(fits) <= MAX_BODY_BYTES);
    const ok = await postJson(chatUrl(), fits);
    assert.equal(ok.status, 200, ok.text.slice(0, 300));
    assert.equal(ctx.up.requests.length, 1, 'only the request within the limit reached the upstream');
    assert.equal(ctx.up.last().body.messages[0].content.length, MAX_BODY_BYTES - 200);
  }),
);

test(
  'headers larger than the limit: 431',
  withLogs(async () => {
    const res = await postJson(
      chatUrl(),
      { model: 'up/gpt-4o', messages },
      { headers: { 'x-padding': 'p'.repeat(64 * 1024) } },
    );
    assert.equal(res.status, 431, res.text.slice(0, 300));
    assert.equal(ctx.up.requests.length, 0);
  }),
);

test(
  'after all those errors the gateway still serves',
  withLogs(async () => {
    const res = await postJson(chatUrl(), { model: 'up/gpt-4o', messages });
    assert.equal(res.status, 200, res.text.slice(0, 300));
    assert.equal(res.headers['x-sluice-resolved-model'], 'up/gpt-4o');
  }),
);
