// Streaming chat completions: recorded OpenAI SSE replayed by the upstream in
// several writes that cut through events, read by the official SDK and raw.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { withLogs } from './lib/gateway.mjs';
import { parseChatStream, postJson, streamText, streamToolCalls } from './lib/http.mjs';
import { streamFixture } from './lib/openai_upstream.mjs';
import { REQUEST_ID, SERVER_TIMING_TOTAL, gatewaySuite, sdk } from './lib/suite.mjs';

const ctx = gatewaySuite();

const messages = [{ role: 'user', content: "What's the weather like in SF?" }];

function recording(name) {
  const parsed = parseChatStream(streamFixture(name).toString('utf8'));
  assert.ok(parsed.done, `${name} ends with [DONE]`);
  const usageChunk = parsed.chunks[parsed.chunks.length - 1];
  assert.deepEqual(usageChunk.choices, [], `${name} ends with a usage-only chunk`);
  return { ...parsed, usage: usageChunk.usage, content: parsed.chunks.slice(0, -1) };
}

const TEXT = recording('text');
const TOOLS = recording('tools');
const VERCEL = recording('vercelText');
const JSON_SCHEMA = recording('jsonSchema');

test('the recordings say what the tests expect', () => {
  assert.equal(
    streamText(TEXT.chunks),
    "I'm unable to provide real-time weather updates. To get the current weather in San Francisco, " +
      'I recommend checking a reliable weather website or a weather app.',
  );
  assert.equal(streamToolCalls(TOOLS.chunks).length, 2);
  assert.ok(streamText(VERCEL.chunks).startsWith('**Holiday Name:**'));
});

async function collect(stream) {
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks;
}

function assertUpstreamAskedForUsage(got, sent) {
  assert.equal(got.path, '/v1/chat/completions');
  assert.equal(got.body.stream, true);
  assert.equal(got.body.stream_options?.include_usage, true, 'gateway asks upstream for usage');
  const { stream_options: _so, ...rest } = got.body;
  const { stream_options: _cso, ...sentRest } = sent;
  assert.deepEqual(rest, { ...sentRest, model: 'gpt-4o' });
}

test(
  'SDK stream: text equals the recording, no usage chunk when the client did not ask',
  withLogs(async () => {
    ctx.up.always({ sse: 'text', writes: 5 });
    const req = { model: 'up/gpt-4o', messages, stream: true };
    const { data: stream, response } = await sdk(ctx.gw).chat.completions.create(req).withResponse();
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type'), /^text\/event-stream/);
    assert.equal(response.headers.get('x-sluice-resolved-model'), 'up/gpt-4o');
    assert.equal(response.headers.get('x-sluice-provider'), 'up');
    assert.match(response.headers.get('x-sluice-request-id') ?? '', REQUEST_ID);
    assert.match(response.headers.get('server-timing') ?? '', SERVER_TIMING_TOTAL);
    const chunks = await collect(stream);

    assert.equal(streamText(chunks), streamText(TEXT.chunks));
    assert.equal(chunks.length, TEXT.content.length, 'every content chunk, nothing more');
    for (const c of chunks) {
      assert.equal(c.object, 'chat.completion.chunk');
      assert.equal(c.id, TEXT.chunks[0].id);
      assert.notDeepEqual(c.choices, [], 'usage-only chunk must be hidden from this client');
      assert.ok(c.usage === undefined || c.usage === null, 'no usage for a client that did not ask');
    }
    assert.equal(chunks[chunks.length - 1].choices[0].finish_reason, 'stop');
    assert.equal(ctx.up.requests.length, 1);
    assertUpstreamAskedForUsage(ctx.up.last(), req);
  }),
);

test(
  'SDK stream with stream_options.include_usage: the client sees the usage chunk',
  withLogs(async () => {
    ctx.up.always({ sse: 'text', writes: 3 });
    const req = { model: 'up/gpt-4o', messages, stream: true, stream_options: { include_usage: true } };
    const chunks = await collect(await sdk(ctx.gw).chat.completions.create(req));
    assert.equal(streamText(chunks), streamText(TEXT.chunks));
    const last = chunks[chunks.length - 1];
    assert.deepEqual(last.choices, []);
    assert.deepEqual(last.usage, TEXT.usage);
    assert.equal(chunks.filter((c) => c.choices.length === 0).length, 1);
    assertUpstreamAskedForUsage(ctx.up.last(), req);
  }),
);

test(
  'SDK stream with include_usage: false: upstream still asked for usage, client sees none',
  withLogs(async () => {
    ctx.up.always({ sse: 'text', writes: 3 });
    const req = { model: 'up/gpt-4o', messages, stream: true, stream_options: { include_usage: false } };
    const chunks = await collect(await sdk(ctx.gw).chat.completions.create(req));
    assert.equal(streamText(chunks), streamText(TEXT.chunks));
    assert.equal(chunks.length, TEXT.content.length);
    assert.equal(chunks.filter((c) => c.choices.length === 0).length, 0);
    assert.equal(ctx.up.last().body.stream_options?.include_usage, true);
  }),
);

test(
  'raw stream: SSE framing, chunk order and deltas as recorded, [DONE] at the end',
  withLogs(async () => {
    // Many small writes: event boundaries fall inside JSON and between "\n\n".
    ctx.up.always({ sse: 'text', writes: 40, gapMs: 2 });
    const res = await postJson(`${ctx.gw.url}/v1/chat/completions`, { model: 'up/gpt-4o', messages, stream: true });
    assert.equal(res.status, 200);
    assert.match(res.headers['content-type'], /^text\/event-stream/);
    assert.equal(res.headers['content-length'], undefined);
    const got = parseChatStream(res.text);
    assert.ok(got.done, 'stream ends with data: [DONE]');
    assert.equal(got.events.filter((e) => e.data === '[DONE]').length, 1);
    const shape = (c) => ({
      id: c.id,
      object: c.object,
      created: c.created,
      choices: c.choices.map((ch) => ({ index: ch.index, delta: ch.delta, finish_reason: ch.finish_reason })),
    });
    assert.deepEqual(got.chunks.map(shape), TEXT.content.map(shape));
  }),
);

test(
  'SDK stream: parallel tool-call deltas rebuild both calls with their arguments',
  withLogs(async () => {
    ctx.up.always({ sse: 'tools', writes: 6 });
    const tools = [
      {
        type: 'function',
        function: {
          name: 'GetWeatherArgs',
          parameters: {
            type: 'object',
            properties: { city: { type: 'string' }, country: { type: 'string' }, units: { type: 'string' } },
            required: ['city', 'country', 'units'],
          },
        },
      },
      {
        type: 'function',
        function: {
          name: 'get_stock_price',
          parameters: {
            type: 'object',
            properties: { ticker: { type: 'string' }, exchange: { type: 'string' } },
            required: ['ticker', 'exchange'],
          },
        },
      },
    ];
    const req = {
      model: 'up/gpt-4o',
      messages: [
        { role: 'user', content: "What's the weather like in Edinburgh?" },
        { role: 'user', content: "What's the price of AAPL?" },
      ],
      tools,
      stream: true,
    };
    const expected = streamToolCalls(TOOLS.chunks);
    assert.equal(expected.length, 2);

    // 1. for await over raw chunks.
    const chunks = await collect(await sdk(ctx.gw).chat.completions.create(req));
    const calls = streamToolCalls(chunks);
    assert.deepEqual(calls, expected);
    assert.equal(chunks[chunks.length - 1].choices[0].finish_reason, 'tool_calls');
    assertUpstreamAskedForUsage(ctx.up.last(), req);
    assert.deepEqual(ctx.up.last().body.tools, tools);

    // 2. The SDK's own accumulator.
    const { stream: _s, ...streamReq } = req;
    const runner = sdk(ctx.gw).chat.completions.stream(streamReq);
    const final = await runner.finalChatCompletion();
    const msg = final.choices[0].message;
    assert.equal(final.choices[0].finish_reason, 'tool_calls');
    assert.equal(msg.tool_calls.length, 2);
    for (let i = 0; i < 2; i++) {
      assert.equal(msg.tool_calls[i].id, expected[i].id);
      assert.equal(msg.tool_calls[i].type, 'function');
      assert.equal(msg.tool_calls[i].function.name, expected[i].function.name);
      assert.equal(msg.tool_calls[i].function.arguments, expected[i].function.arguments);
    }
    assert.equal(msg.tool_calls[0].function.name, 'GetWeatherArgs');
    assert.equal(msg.tool_calls[1].function.name, 'get_stock_price');
    assert.deepEqual(JSON.parse(msg.tool_calls[0].function.arguments), JSON.parse(expected[0].function.arguments));
    assert.equal(JSON.parse(msg.tool_calls[0].function.arguments).city, 'Edinburgh');
    assert.equal(JSON.parse(msg.tool_calls[1].function.arguments).ticker, 'AAPL');
  }),
);

test(
  'SDK stream, newer wire format (usage: null on each chunk, obfuscation): usage chunk hidden',
  withLogs(async () => {
    ctx.up.always({ sse: 'vercelText', writes: 7 });
    const chunks = await collect(
      await sdk(ctx.gw).chat.completions.create({ model: 'up/gpt-4o', messages, stream: true }),
    );
    assert.equal(streamText(chunks), streamText(VERCEL.chunks));
    assert.equal(chunks.length, VERCEL.content.length);
    assert.equal(chunks.filter((c) => c.choices.length === 0).length, 0);
    assert.equal(chunks[chunks.length - 1].choices[0].finish_reason, 'stop');
    assert.equal(ctx.up.last().body.stream_options?.include_usage, true);
  }),
);

test(
  'SDK stream, newer wire format with include_usage: the final usage arrives intact',
  withLogs(async () => {
    ctx.up.always({ sse: 'vercelText', writes: 3 });
    const chunks = await collect(
      await sdk(ctx.gw).chat.completions.create({
        model: 'up/gpt-4o',
        messages,
        stream: true,
        stream_options: { include_usage: true },
      }),
    );
    const last = chunks[chunks.length - 1];
    assert.deepEqual(last.choices, []);
    assert.deepEqual(last.usage, VERCEL.usage);
    assert.equal(last.usage.completion_tokens, 300);
  }),
);

test(
  'SDK stream with response_format json_schema: the JSON text streams through',
  withLogs(async () => {
    ctx.up.always({ sse: 'jsonSchema', writes: 4 });
    const response_format = {
      type: 'json_schema',
      json_schema: {
        name: 'Location',
        strict: true,
        schema: {
          type: 'object',
          properties: {
            city: { type: 'string' },
            temperature: { type: 'number' },
            units: { type: 'string', enum: ['c', 'f'] },
          },
          required: ['city', 'temperature', 'units'],
          additionalProperties: false,
        },
      },
    };
    const chunks = await collect(
      await sdk(ctx.gw).chat.completions.create({ model: 'up/gpt-4o', messages, response_format, stream: true }),
    );
    const text = streamText(chunks);
    assert.equal(text, streamText(JSON_SCHEMA.chunks));
    assert.equal(JSON.parse(text).city, 'San Francisco');
    assert.deepEqual(ctx.up.last().body.response_format, response_format);
  }),
);
