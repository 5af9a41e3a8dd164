// `sluice serve` with no manifest: the built-in default on 127.0.0.1:8080 with
// the mock provider answers offline. Skipped when port 8080 is taken.
import assert from 'node:assert/strict';
import os from 'node:os';
import { test } from 'node:test';

import { isListening, startGateway, withLogs } from './lib/gateway.mjs';
import { postJson, request } from './lib/http.mjs';
import { sdk } from './lib/suite.mjs';

const PORT = 8080;

function nonLoopbackIPv4() {
  for (const addrs of Object.values(os.networkInterfaces())) {
    for (const a of addrs || []) {
      if (a.family === 'IPv4' && !a.internal) return a.address;
    }
  }
  return null;
}

test(
  'built-in default (no -c): chat completion offline with mock/gpt-4o-mini',
  withLogs(async (t) => {
    if (await isListening(PORT)) {
      t.skip('127.0.0.1:8080 is in use');
      return;
    }
    const gw = await startGateway(null, { port: PORT });
    try {
      assert.equal(gw.url, 'http://127.0.0.1:8080');
      const { data, response } = await sdk(gw)
        .chat.completions.create({ model: 'mock/gpt-4o-mini', messages: [{ role: 'user', content: 'Say foo' }] })
        .withResponse();
      assert.equal(response.status, 200);
      assert.equal(response.headers.get('x-sluice-resolved-model'), 'mock/gpt-4o-mini');
      assert.equal(response.headers.get('x-sluice-provider'), 'mock');
      assert.equal(data.choices[0].message.role, 'assistant');
      assert.equal(data.choices[0].message.content, 'Mock reply to: Say foo');

      const stream = await sdk(gw).chat.completions.create({
        model: 'mock/gpt-4o-mini',
        messages: [{ role: 'user', content: 'Say foo' }],
        stream: true,
      });
      let text = '';
      for await (const c of stream) text += c.choices[0]?.delta?.content ?? '';
      assert.equal(text, 'Mock reply to: Say foo');

      const models = await request(`${gw.url}/v1/models`);
      assert.equal(models.status, 200);
      assert.ok(
        models.json.data.some((m) => m.id === 'mock/gpt-4o-mini'),
        `models: ${models.text}`,
      );
      const viaAlias = await postJson(`${gw.url}/api/llm/v1/chat/completions`, {
        model: 'mock/gpt-4o-mini',
        messages: [{ role: 'user', content: 'hi' }],
      });
      assert.equal(viaAlias.status, 200);

      // Runs open, so it says so, and stays on loopback.
      assert.match(gw.output, /\bopen\b/i);
      const external = nonLoopbackIPv4();
      if (external) assert.equal(await isListening(PORT, external), false, `not listening on ${external}`);
    } finally {
      const exit = await gw.stop();
      assert.deepEqual(exit, { code: 0, signal: null });
    }
  }),
);
