// SIGTERM drain: the listener closes at once (new connections are refused),
// in-flight requests finish, then the process exits with status 0.
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { after, before, test } from 'node:test';

import { openaiManifest, startGateway, waitFor, withLogs } from './lib/gateway.mjs';
import { parseChatStream, postJson, request, streamText } from './lib/http.mjs';
import { fixtureJson, startOpenAIUpstream, streamFixture } from './lib/openai_upstream.mjs';
import { sdk } from './lib/suite.mjs';

let up;
before(async () => {
  up = await startOpenAIUpstream();
});
after(async () => {
  await up?.close();
});

const messages = [{ role: 'user', content: "What's the weather like in SF?" }];
const TEXT = streamText(parseChatStream(streamFixture('text').toString('utf8')).chunks);

function manifest() {
  return openaiManifest(up.url, { server: '  limits: {drain_timeout_ms: 20000}\n' });
}

// Resolves 'connected' or the connect error's code (e.g. 'ECONNREFUSED').
function tryConnect(port) {
  return new Promise((resolve) => {
    const sock = net.connect({ port, host: '127.0.0.1' });
    sock.setTimeout(2000, () => {
      sock.destroy();
      resolve('timeout');
    });
    sock.once('connect', () => {
      sock.destroy();
      resolve('connected');
    });
    sock.once('error', (err) => resolve(err.code));
  });
}

test(
  'SIGTERM during a stream: the stream completes, new connections are refused, exit 0',
  withLogs(async () => {
    up.reset();
    // About 2 s of stream: 20 writes, 100 ms apart.
    up.always({ sse: 'text', writes: 20, gapMs: 100 });
    const gw = await startGateway(manifest());
    try {
      assert.equal(await tryConnect(gw.port), 'connected');
      const stream = await sdk(gw).chat.completions.create({ model: 'up/gpt-4o', messages, stream: true });
      let text = '';
      let finished = false;
      const reading = (async () => {
        for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
        finished = true;
      })();
      await up.waitForRequests(1);

      gw.signal('SIGTERM');
      await waitFor(async () => (await tryConnect(gw.port)) === 'ECONNREFUSED', {
        timeoutMs: 5000,
        what: 'the listener to close after SIGTERM',
      });
      assert.equal(finished, false, 'the listener closed while the stream was still running');
      assert.equal(gw.exit, null, 'process still running while a request is in flight');

      await reading;
      assert.equal(text, TEXT);
      const exit = await gw.waitExit();
      assert.deepEqual(exit, { code: 0, signal: null });
    } finally {
      await gw.stop();
    }
  }),
);

test(
  'SIGTERM during a non-streaming request: it completes with 200, exit 0',
  withLogs(async () => {
    up.reset();
    const recorded = fixtureJson('vercel-ai/openai-text.json');
    up.always({ delayMs: 1500, status: 200, json: recorded });
    const gw = await startGateway(manifest());
    try {
      const pending = postJson(`${gw.url}/v1/chat/completions`, { model: 'up/gpt-4o', messages }, { timeoutMs: 20000 });
      await up.waitForRequests(1);
      gw.signal('SIGTERM');
      await waitFor(async () => (await tryConnect(gw.port)) === 'ECONNREFUSED', {
        timeoutMs: 5000,
        what: 'the listener to close after SIGTERM',
      });
      assert.equal(gw.exit, null, 'process still running while a request is in flight');
      const ready = await request(`${gw.adminUrl}/readyz`);
      assert.equal(ready.status, 503, 'not ready while draining');
      const res = await pending;
      assert.equal(res.status, 200);
      assert.equal(res.json.choices[0].message.content, recorded.choices[0].message.content);
      const exit = await gw.waitExit();
      assert.deepEqual(exit, { code: 0, signal: null });
    } finally {
      await gw.stop();
    }
  }),
);

test(
  'SIGTERM with only an idle keep-alive connection open: prompt exit 0',
  withLogs(async () => {
    up.reset();
    const gw = await startGateway(manifest());
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const res = await postJson(`${gw.url}/v1/chat/completions`, { model: 'up/gpt-4o', messages }, { agent });
      assert.equal(res.status, 200);
      const started = Date.now();
      gw.signal('SIGTERM');
      // Well under drain_timeout_ms (20 s): an idle connection is no reason to wait.
      const exit = await gw.waitExit(10000);
      assert.deepEqual(exit, { code: 0, signal: null }, `exit after ${Date.now() - started} ms`);
    } finally {
      agent.destroy();
      await gw.stop();
    }
  }),
);

test(
  'SIGINT also stops the gateway cleanly',
  withLogs(async () => {
    up.reset();
    const gw = await startGateway(manifest());
    try {
      gw.signal('SIGINT');
      assert.deepEqual(await gw.waitExit(), { code: 0, signal: null });
    } finally {
      await gw.stop();
    }
  }),
);
