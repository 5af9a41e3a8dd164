// The built-in `mock` provider through the whole gateway: local answers,
// configured reply and stream chunking, and its error triggers.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import OpenAI from 'openai';

import { startGateway, withLogs } from './lib/gateway.mjs';
import { postJson } from './lib/http.mjs';
import { sdk } from './lib/suite.mjs';

const MANIFEST = `version: 1
server:
  listen: ["127.0.0.1:{{PORT}}"]
  workers: 1
admin:
  listen: "127.0.0.1:{{ADMIN_PORT}}"
providers:
  - name: mock
    type: mock
    models: [gpt-4o-mini, error-429, error-500, error-503]
  - name: fixed
    type: mock
    reply: "Hello from the fixed mock, in three parts."
    chunks: 3
    latency_ms: 30
    chunk_delay_ms: 10
    models: [m1]
`;

let gw;
before(async () => {
  gw = await startGateway(MANIFEST);
});
after(async () => {
  const exit = await gw?.stop();
  if (exit) assert.deepEqual(exit, { code: 0, signal: null });
});

const messages = [{ role: 'user', content: 'Say foo' }];

test(
  'mock: default reply echoes the last user message',
  withLogs(async () => {
    const { data, response } = await sdk(gw)
      .chat.completions.create({ model: 'mock/gpt-4o-mini', messages })
      .withResponse();
    assert.equal(data.object, 'chat.completion');
    assert.equal(data.choices[0].message.role, 'assistant');
    assert.equal(data.choices[0].message.content, 'Mock reply to: Say foo');
    assert.equal(data.choices[0].finish_reason, 'stop');
    assert.equal(data.usage.completion_tokens, 5);
    assert.equal(response.headers.get('x-sluice-provider'), 'mock');
    assert.equal(response.headers.get('x-sluice-resolved-model'), 'mock/gpt-4o-mini');
  }),
);

test(
  'mock: configured reply, streamed in the configured number of chunks',
  withLogs(async () => {
    const reply = 'Hello from the fixed mock, in three parts.';
    const plain = await sdk(gw).chat.completions.create({ model: 'fixed/m1', messages });
    assert.equal(plain.choices[0].message.content, reply);

    const stream = await sdk(gw).chat.completions.create({
      model: 'fixed/m1',
      messages,
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = [];
    for await (const c of stream) chunks.push(c);
    const content = chunks.flatMap((c) => c.choices.map((ch) => ch.delta?.content ?? '')).filter((s) => s !== '');
    assert.equal(content.join(''), reply);
    assert.equal(content.length, 3);
    const last = chunks[chunks.length - 1];
    assert.deepEqual(last.choices, []);
    assert.equal(last.usage.completion_tokens, 8);
  }),
);

test(
  'mock: without include_usage the client gets no usage chunk',
  withLogs(async () => {
    const stream = await sdk(gw).chat.completions.create({ model: 'fixed/m1', messages, stream: true });
    const chunks = [];
    for await (const c of stream) chunks.push(c);
    assert.ok(chunks.length >= 3);
    assert.equal(chunks.filter((c) => c.choices.length === 0).length, 0);
  }),
);

test(
  'mock: error-NNN models answer that status with an OpenAI error body',
  withLogs(async () => {
    const cases = [
      [429, 'rate_limit_error', 'rate_limit_exceeded'],
      [500, 'server_error', null],
      [503, 'server_error', null],
    ];
    for (const [status, type, code] of cases) {
      const res = await postJson(`${gw.url}/v1/chat/completions`, { model: `mock/error-${status}`, messages });
      assert.equal(res.status, status, res.text);
      assert.deepEqual(res.json, {
        error: { message: `mock error: status ${status} requested`, type, param: null, code },
      });
    }
    await assert.rejects(sdk(gw).chat.completions.create({ model: 'mock/error-429', messages }), (err) => {
      assert.ok(err instanceof OpenAI.RateLimitError, `RateLimitError, got ${err}`);
      assert.equal(err.status, 429);
      return true;
    });
  }),
);

test(
  'mock: embeddings and completions answer locally',
  withLogs(async () => {
    const emb = await postJson(`${gw.url}/v1/embeddings`, {
      model: 'mock/gpt-4o-mini',
      input: ['a', 'b'],
      encoding_format: 'float',
      dimensions: 16,
    });
    assert.equal(emb.status, 200, emb.text);
    assert.equal(emb.json.object, 'list');
    assert.equal(emb.json.data.length, 2);
    for (const [i, d] of emb.json.data.entries()) {
      assert.equal(d.index, i);
      assert.equal(d.embedding.length, 16);
    }
    const cmpl = await postJson(`${gw.url}/v1/completions`, { model: 'mock/gpt-4o-mini', prompt: 'Say foo' });
    assert.equal(cmpl.status, 200, cmpl.text);
    assert.equal(cmpl.json.object, 'text_completion');
    assert.equal(typeof cmpl.json.choices[0].text, 'string');
    assert.ok(cmpl.json.choices[0].text.length > 0);
  }),
);
