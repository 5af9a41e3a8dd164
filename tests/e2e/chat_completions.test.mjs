// Non-streaming chat completions through the gateway: the official SDK and
// curl as clients, the mock upstream replaying a recorded OpenAI body.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { openaiManifest, withLogs } from './lib/gateway.mjs';
import { curl, postJson } from './lib/http.mjs';
import { fixtureJson } from './lib/openai_upstream.mjs';
import { CLIENT_KEY, REQUEST_ID, SERVER_TIMING_TOTAL, gatewaySuite, sdk } from './lib/suite.mjs';

const ctx = gatewaySuite((up) =>
  openaiManifest(up.url, {
    providers: `  - name: org
    type: openai
    base_url: "${up.url}"
    auth: {bearer: sk-org-456}
    organization: org-e2e
    project: proj_e2e
    models: [gpt-4o]
`,
  }),
);

const recorded = fixtureJson('vercel-ai/openai-text.json');
const messages = [
  { role: 'system', content: 'You are terse.' },
  { role: 'user', content: 'Invent a new holiday and describe its traditions.' },
];

function assertSluiceHeaders(get, { model, provider }) {
  assert.equal(get('x-sluice-resolved-model'), model);
  assert.equal(get('x-sluice-provider'), provider);
  assert.match(get('x-sluice-request-id') ?? '', REQUEST_ID);
  assert.match(get('server-timing') ?? '', SERVER_TIMING_TOTAL);
}

test(
  'SDK: non-streaming chat completion returns the upstream body and sluice headers',
  withLogs(async () => {
    const { data, response } = await sdk(ctx.gw)
      .chat.completions.create({ model: 'up/gpt-4o', messages })
      .withResponse();
    assert.equal(response.status, 200);
    assert.equal(data.id, recorded.id);
    assert.equal(data.object, 'chat.completion');
    assert.equal(data.choices.length, 1);
    assert.equal(data.choices[0].message.role, 'assistant');
    assert.equal(data.choices[0].message.content, recorded.choices[0].message.content);
    assert.equal(data.choices[0].finish_reason, 'stop');
    assert.deepEqual(data.usage, recorded.usage);
    assertSluiceHeaders((h) => response.headers.get(h), { model: 'up/gpt-4o', provider: 'up' });

    assert.equal(ctx.up.requests.length, 1);
    const got = ctx.up.last();
    assert.equal(got.method, 'POST');
    assert.equal(got.path, '/v1/chat/completions');
    assert.equal(got.headers.authorization, 'Bearer sk-test-123');
    assert.match(got.headers['content-type'], /^application\/json/);
    assert.deepEqual(got.body, { model: 'gpt-4o', messages });
    assert.ok(!got.rawBody.includes(CLIENT_KEY), 'the client key must not reach the upstream');
    for (const value of Object.values(got.headers)) {
      assert.ok(!String(value).includes(CLIENT_KEY), 'the client key must not reach the upstream');
    }
  }),
);

test(
  'curl: non-streaming chat completion',
  withLogs(async () => {
    const res = await curl(`${ctx.gw.url}/v1/chat/completions`, [
      '-H',
      'content-type: application/json',
      '-H',
      `authorization: Bearer ${CLIENT_KEY}`,
      '-d',
      JSON.stringify({ model: 'up/gpt-4o', messages }),
    ]);
    assert.equal(res.status, 200);
    assert.match(res.headers['content-type'], /^application\/json/);
    assertSluiceHeaders((h) => res.headers[h], { model: 'up/gpt-4o', provider: 'up' });
    const body = JSON.parse(res.body);
    assert.equal(body.id, recorded.id);
    assert.equal(body.choices[0].message.content, recorded.choices[0].message.content);
    assert.deepEqual(body.usage, recorded.usage);
    assert.equal(Number(res.headers['content-length']), Buffer.byteLength(res.body));
    assert.equal(ctx.up.last().body.model, 'gpt-4o');
  }),
);

test(
  'both base paths serve chat completions (/v1 and /api/llm/v1)',
  withLogs(async () => {
    for (const base of ['/v1', '/api/llm/v1']) {
      const { data, response } = await sdk(ctx.gw, base)
        .chat.completions.create({ model: 'up/gpt-4o', messages })
        .withResponse();
      assert.equal(response.status, 200, base);
      assert.equal(data.choices[0].message.content, recorded.choices[0].message.content, base);
      assert.equal(response.headers.get('x-sluice-resolved-model'), 'up/gpt-4o', base);
      // The upstream path comes from the provider's base_url, not the client's.
      assert.equal(ctx.up.last().path, '/v1/chat/completions', base);
    }
    assert.equal(ctx.up.requests.length, 2);
  }),
);

test(
  'tools, response_format and unknown fields reach the upstream untouched',
  withLogs(async () => {
    const body = {
      model: 'up/gpt-4o',
      messages: [
        { role: 'user', content: "What's the weather like in Edinburgh?" },
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
          ],
        },
        { role: 'tool', tool_call_id: 'call_1', content: '{"temp_c": 21.5, "sky": "clear"}' },
      ],
      tools: [
        {
          type: 'function',
          function: {
            name: 'get_weather',
            description: 'Current weather',
            strict: true,
            parameters: {
              type: 'object',
              properties: { city: { type: 'string' }, units: { type: 'string', enum: ['c', 'f'] } },
              required: ['city', 'units'],
              additionalProperties: false,
            },
          },
        },
      ],
      tool_choice: { type: 'function', function: { name: 'get_weather' } },
      parallel_tool_calls: false,
      response_format: {
        type: 'json_schema',
        json_schema: {
          name: 'answer',
          strict: true,
          schema: { type: 'object', properties: { answer: { type: 'string' } }, required: ['answer'] },
        },
      },
      temperature: 0.25,
      top_p: 1,
      seed: 42,
      max_completion_tokens: 256,
      logit_bias: { 50256: -100 },
      user: 'e2e-user',
      x_vendor_extension: { nested: [1, 2.5, 'three', null, true], deep: { a: { b: [] } } },
      unicode_field: 'naïve café — 東京 🚀',
    };
    const res = await postJson(`${ctx.gw.url}/v1/chat/completions`, body);
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(ctx.up.last().body, { ...body, model: 'gpt-4o' });
  }),
);

test(
  'openai-compatible: upstream_name replaces the model, no bearer configured means no Authorization',
  withLogs(async () => {
    const { data, response } = await sdk(ctx.gw)
      .chat.completions.create({ model: 'compat/llama', messages })
      .withResponse();
    assert.equal(data.choices[0].message.content, recorded.choices[0].message.content);
    assertSluiceHeaders((h) => response.headers.get(h), { model: 'compat/llama', provider: 'compat' });
    const got = ctx.up.last();
    assert.equal(got.path, '/v1/chat/completions');
    assert.deepEqual(got.body, { model: 'meta-llama/Llama-3.1-70B-Instruct', messages });
    assert.equal(got.headers.authorization, undefined);
  }),
);

test(
  'openai: organization and project become OpenAI-Organization / OpenAI-Project',
  withLogs(async () => {
    const res = await postJson(`${ctx.gw.url}/v1/chat/completions`, { model: 'org/gpt-4o', messages });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.headers['x-sluice-provider'], 'org');
    const got = ctx.up.last();
    assert.equal(got.headers.authorization, 'Bearer sk-org-456');
    assert.equal(got.headers['openai-organization'], 'org-e2e');
    assert.equal(got.headers['openai-project'], 'proj_e2e');
  }),
);

test(
  'request ids: unique per request, X-Sluice-Request-Id from the client is kept',
  withLogs(async () => {
    const a = await postJson(`${ctx.gw.url}/v1/chat/completions`, { model: 'up/gpt-4o', messages });
    const b = await postJson(`${ctx.gw.url}/v1/chat/completions`, { model: 'up/gpt-4o', messages });
    assert.equal(a.status, 200);
    assert.equal(b.status, 200);
    assert.match(a.headers['x-sluice-request-id'], REQUEST_ID);
    assert.match(b.headers['x-sluice-request-id'], REQUEST_ID);
    assert.notEqual(a.headers['x-sluice-request-id'], b.headers['x-sluice-request-id']);

    const c = await postJson(
      `${ctx.gw.url}/v1/chat/completions`,
      { model: 'up/gpt-4o', messages },
      { headers: { 'x-sluice-request-id': 'e2e-client-chosen-0001' } },
    );
    assert.equal(c.status, 200);
    assert.equal(c.headers['x-sluice-request-id'], 'e2e-client-chosen-0001');
  }),
);
