// HTTP/1.1 keep-alive: many requests (plain, streamed, errors) on one client
// connection, and pooled connections towards the upstream.
import assert from 'node:assert/strict';
import http from 'node:http';
import { test } from 'node:test';

import OpenAI from 'openai';

import { withLogs } from './lib/gateway.mjs';
import { parseChatStream, postJson, request } from './lib/http.mjs';
import { fixtureJson } from './lib/openai_upstream.mjs';
import { CLIENT_KEY, gatewaySuite } from './lib/suite.mjs';

const ctx = gatewaySuite();
const messages = [{ role: 'user', content: 'Say foo' }];
const recorded = fixtureJson('vercel-ai/openai-text.json');

test(
  'one agent, one socket: plain, streamed, error and models requests in sequence',
  withLogs(async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const chat = `${ctx.gw.url}/v1/chat/completions`;
      const results = [];
      results.push(await postJson(chat, { model: 'up/gpt-4o', messages }, { agent }));
      results.push(await postJson(chat, { model: 'up/gpt-4o', messages, stream: true }, { agent }));
      results.push(await postJson(chat, { model: 'up/gpt-4o', messages }, { agent }));
      results.push(await postJson(chat, { model: 'up/nope', messages }, { agent }));
      results.push(await request(`${ctx.gw.url}/v1/models`, { agent }));
      results.push(await postJson(chat, { model: 'up/gpt-4o', messages, stream: true }, { agent }));
      results.push(await postJson(chat, { model: 'up/gpt-4o', messages }, { agent }));

      assert.deepEqual(
        results.map((r) => r.status),
        [200, 200, 200, 404, 200, 200, 200],
      );
      assert.equal(results[0].json.choices[0].message.content, recorded.choices[0].message.content);
      assert.equal(results[6].json.choices[0].message.content, recorded.choices[0].message.content);
      assert.ok(parseChatStream(results[1].text).done);
      assert.ok(parseChatStream(results[5].text).done);
      assert.equal(results[3].json.error.code, 'model_not_found');

      assert.equal(results[0].reusedSocket, false);
      for (let i = 1; i < results.length; i++) {
        assert.equal(results[i].reusedSocket, true, `request ${i} reused the connection`);
        assert.equal(results[i].localPort, results[0].localPort, `request ${i} on the same socket`);
        assert.notEqual((results[i].headers.connection ?? '').toLowerCase(), 'close');
      }
    } finally {
      agent.destroy();
    }
  }),
);

test(
  'SDK with a keep-alive agent: several requests, one connection',
  withLogs(async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    let connections = 0;
    const createConnection = agent.createConnection.bind(agent);
    agent.createConnection = (...args) => {
      connections++;
      return createConnection(...args);
    };
    try {
      const client = new OpenAI({
        baseURL: `${ctx.gw.url}/v1`,
        apiKey: CLIENT_KEY,
        maxRetries: 0,
        timeout: 20000,
        fetch: (url, init) => nodeFetch(url, { ...init, agent }),
      });
      for (let i = 0; i < 5; i++) {
        const r = await client.chat.completions.create({ model: 'up/gpt-4o', messages });
        assert.equal(r.choices[0].message.content, recorded.choices[0].message.content);
      }
      assert.equal(connections, 1);
    } finally {
      agent.destroy();
    }
  }),
);

test(
  'upstream connections are pooled: sequential requests reuse one',
  withLogs(async () => {
    const before = ctx.up.connections;
    for (let i = 0; i < 6; i++) {
      const r = await postJson(`${ctx.gw.url}/v1/chat/completions`, { model: 'up/gpt-4o', messages });
      assert.equal(r.status, 200);
    }
    assert.equal(ctx.up.requests.length, 6);
    assert.ok(
      ctx.up.connections - before <= 1,
      `${ctx.up.connections - before} new upstream connections for 6 requests`,
    );
  }),
);

// A fetch() on node:http so the SDK can use a keep-alive agent we can count.
function nodeFetch(url, init = {}) {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const headers = {};
    new Headers(init.headers || {}).forEach((v, k) => (headers[k] = v));
    const req = http.request(
      {
        hostname: u.hostname,
        port: u.port,
        path: u.pathname + u.search,
        method: init.method || 'GET',
        headers,
        agent: init.agent,
      },
      (res) => {
        const parts = [];
        res.on('data', (d) => parts.push(d));
        res.on('error', reject);
        res.on('end', () => {
          const h = new Headers();
          for (const [k, v] of Object.entries(res.headers)) h.set(k, Array.isArray(v) ? v.join(', ') : v);
          resolve(new Response(Buffer.concat(parts), { status: res.statusCode, headers: h }));
        });
      },
    );
    req.on('error', reject);
    if (init.signal) init.signal.addEventListener('abort', () => req.destroy(new Error('aborted')));
    if (init.body) req.write(init.body);
    req.end();
  });
}
