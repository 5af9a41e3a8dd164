// Embeddings, legacy completions and the models list, on both base paths.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { withLogs } from './lib/gateway.mjs';
import { postJson, request } from './lib/http.mjs';
import { fixtureJson } from './lib/openai_upstream.mjs';
import { gatewaySuite, sdk } from './lib/suite.mjs';

const ctx = gatewaySuite();

const EMBEDDINGS = fixtureJson('openai-openapi/embeddings.json');
const COMPLETIONS = fixtureJson('openai-openapi/completions.json');
const MODEL_IDS = ['compat/llama', 'up/gpt-3.5-turbo-instruct', 'up/gpt-4o', 'up/text-embedding-3-small'];

test(
  'SDK embeddings (base64 on the wire, decoded by the SDK)',
  withLogs(async () => {
    const input = 'The quick brown fox jumped over the lazy dog';
    const { data, response } = await sdk(ctx.gw)
      .embeddings.create({ model: 'up/text-embedding-3-small', input })
      .withResponse();
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('x-sluice-resolved-model'), 'up/text-embedding-3-small');
    assert.equal(response.headers.get('x-sluice-provider'), 'up');
    assert.equal(data.object, 'list');
    assert.equal(data.data.length, 1);
    assert.deepEqual(
      data.data[0].embedding,
      EMBEDDINGS.data[0].embedding.map((v) => Math.fround(v)),
    );
    assert.deepEqual(data.usage, EMBEDDINGS.usage);

    const got = ctx.up.last();
    assert.equal(got.method, 'POST');
    assert.equal(got.path, '/v1/embeddings');
    assert.equal(got.headers.authorization, 'Bearer sk-test-123');
    assert.equal(got.body.model, 'text-embedding-3-small');
    assert.equal(got.body.input, input);
    assert.equal(got.body.encoding_format, 'base64', 'the SDK asks for base64; it passes through');
  }),
);

test(
  'raw embeddings with float format, array input, dimensions: body passes through both ways',
  withLogs(async () => {
    for (const base of ['/v1', '/api/llm/v1']) {
      const body = {
        model: 'up/text-embedding-3-small',
        input: ['first', 'second'],
        encoding_format: 'float',
        dimensions: 8,
      };
      const res = await postJson(`${ctx.gw.url}${base}/embeddings`, body);
      assert.equal(res.status, 200, `${base}: ${res.text}`);
      assert.deepEqual(res.json, EMBEDDINGS, base);
      assert.deepEqual(ctx.up.last().body, { ...body, model: 'text-embedding-3-small' }, base);
      assert.equal(ctx.up.last().path, '/v1/embeddings');
    }
  }),
);

test(
  'SDK legacy completions',
  withLogs(async () => {
    for (const base of ['/v1', '/api/llm/v1']) {
      const { data, response } = await sdk(ctx.gw, base)
        .completions.create({
          model: 'up/gpt-3.5-turbo-instruct',
          prompt: 'Say this is a test.',
          max_tokens: 7,
          temperature: 0,
        })
        .withResponse();
      assert.equal(response.status, 200, base);
      assert.equal(response.headers.get('x-sluice-resolved-model'), 'up/gpt-3.5-turbo-instruct');
      assert.equal(data.object, 'text_completion');
      assert.equal(data.choices[0].text, COMPLETIONS.choices[0].text);
      assert.equal(data.choices[0].finish_reason, 'length');
      assert.deepEqual(data.usage, COMPLETIONS.usage);
      const got = ctx.up.last();
      assert.equal(got.path, '/v1/completions');
      assert.deepEqual(got.body, {
        model: 'gpt-3.5-turbo-instruct',
        prompt: 'Say this is a test.',
        max_tokens: 7,
        temperature: 0,
      });
    }
  }),
);

test(
  'SDK models list: exactly the manifest models, answered by the gateway itself',
  withLogs(async () => {
    for (const base of ['/v1', '/api/llm/v1']) {
      const page = await sdk(ctx.gw, base).models.list();
      const ids = page.data.map((m) => m.id).sort();
      assert.deepEqual(ids, MODEL_IDS, base);
      for (const m of page.data) assert.equal(m.object, 'model');
    }
    const raw = await request(`${ctx.gw.url}/v1/models`);
    assert.equal(raw.status, 200);
    assert.match(raw.headers['content-type'], /^application\/json/);
    assert.equal(raw.json.object, 'list');
    assert.equal(raw.json.data.length, MODEL_IDS.length);
    assert.equal(ctx.up.requests.length, 0, 'the models list does not call the upstream');
  }),
);
