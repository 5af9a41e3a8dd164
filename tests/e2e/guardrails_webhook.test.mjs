// The webhook guardrail against a real HTTP guardrail service on loopback:
// what it is sent, each verdict, and every way the service can fail (a
// timeout, an error status, a malformed answer, nobody listening) under
// enforce and strict.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, test } from 'node:test';

import { freePort, openaiManifest, startGateway, waitFor, withLogs } from './lib/gateway.mjs';
import { postJson } from './lib/http.mjs';
import { startOpenAIUpstream } from './lib/openai_upstream.mjs';

// The guardrail service: answers by what the text asks for.
const calls = [];
let service;
let servicePort;

function answerFor(content) {
  if (content.includes('please block')) return { status: 200, json: { verdict: 'block', reason: 'off-limits topic' } };
  if (content.includes('please rewrite')) {
    return {
      status: 200,
      json: { verdict: 'mutate', content: content.replace('please rewrite', '[rewritten]'), findings: [{ type: 'TOPIC', count: 1 }] },
    };
  }
  if (content.includes('please fail')) return { status: 503, text: 'overloaded' };
  if (content.includes('please garble')) return { status: 200, text: 'not json' };
  if (content.includes('please hang')) return { hang: true };
  return { status: 200, json: { verdict: 'pass' } };
}

const ctx = { up: null, gw: null };
before(async () => {
  service = http.createServer((req, res) => {
    const parts = [];
    req.on('data', (d) => parts.push(d));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(parts).toString('utf8'));
      calls.push({ headers: req.headers, body });
      const a = answerFor(body.content);
      if (a.hang) return; // never answers: the gateway's timeout ends it
      res.writeHead(a.status, { 'content-type': a.json ? 'application/json' : 'text/plain' });
      res.end(a.json ? JSON.stringify(a.json) : a.text);
    });
  });
  await new Promise((resolve) => service.listen(0, '127.0.0.1', resolve));
  servicePort = service.address().port;
  const nobody = await freePort();
  ctx.up = await startOpenAIUpstream();
  const url = `http://127.0.0.1:${servicePort}/check`;
  ctx.gw = await startGateway(
    openaiManifest(ctx.up.url, {
      top: `guardrails:
  - {name: hook-enforce, plugin: webhook, operation: mutate, mode: enforce, timeout_ms: 300,
     config: {url: "${url}", bearer: guard-secret-123, headers: {x-caller: sluice}}}
  - {name: hook-strict, plugin: webhook, operation: validate, mode: strict, timeout_ms: 300,
     config: {url: "${url}"}}
  - {name: hook-nobody, plugin: webhook, operation: validate, mode: strict, timeout_ms: 1000,
     config: {url: "http://127.0.0.1:${nobody}/check"}}
guardrail_rules:
  - {id: enforce, when: {metadata: {g: enforce}}, llm_input: [hook-enforce]}
  - {id: strict, when: {metadata: {g: strict}}, llm_input: [hook-strict]}
  - {id: nobody, when: {metadata: {g: nobody}}, llm_input: [hook-nobody]}
`,
    }),
  );
});
after(async () => {
  await ctx.gw?.stop();
  await ctx.up?.close();
  service.closeAllConnections?.();
  await new Promise((resolve) => service.close(resolve));
});

function chat(g, content) {
  return postJson(
    `${ctx.gw.url}/v1/chat/completions`,
    { model: 'up/gpt-4o', messages: [{ role: 'user', content }] },
    { headers: { 'x-sluice-metadata': JSON.stringify({ g, project: 'p1' }), 'x-sluice-request-id': `wh-${calls.length}-${g}` } },
  );
}

function assertBlocked(r, guardrail, reason) {
  assert.equal(r.status, 400, r.text);
  assert.equal(r.json.error.code, 'guardrail_blocked');
  assert.equal(r.json.error.message, `guardrail '${guardrail}' blocked this request: ${reason}`);
}

test(
  'the service gets the contract: hook, content, model, subject, metadata, request id, its headers',
  withLogs(async () => {
    const before = calls.length;
    const r = await chat('enforce', 'hello there');
    assert.equal(r.status, 200, r.text);
    const call = calls[before];
    assert.equal(call.headers.authorization, 'Bearer guard-secret-123');
    assert.equal(call.headers['x-caller'], 'sluice');
    assert.match(call.headers['content-type'], /^application\/json/);
    assert.deepEqual(call.body, {
      hook: 'llm_input',
      content: 'hello there',
      model: 'up/gpt-4o',
      subject: 'anonymous',
      metadata: { g: 'enforce', project: 'p1' },
      request_id: r.headers['x-sluice-request-id'],
    });
  }),
);

test(
  'block and mutate answers are applied',
  withLogs(async () => {
    assertBlocked(await chat('enforce', 'please block this'), 'hook-enforce', 'off-limits topic');
    const r = await chat('enforce', 'please rewrite this');
    assert.equal(r.status, 200, r.text);
    assert.equal(ctx.up.last().body.messages[0].content, '[rewritten] this');
  }),
);

test(
  'a failing service: enforce lets the request through, strict blocks with the reason',
  withLogs(async () => {
    for (const [content, reason] of [
      ['please fail', 'webhook answered HTTP 503'],
      ['please garble', 'webhook answer is not a JSON object'],
      ['please hang', 'no answer within 300 ms'],
    ]) {
      const through = await chat('enforce', content);
      assert.equal(through.status, 200, `${content}: ${through.text}`);
      assert.equal(ctx.up.last().body.messages[0].content, content);
      assertBlocked(await chat('strict', content), 'hook-strict', `the guardrail failed: ${reason}`);
    }
    const nobody = await chat('nobody', 'anything');
    assert.equal(nobody.status, 400, nobody.text);
    assert.match(nobody.json.error.message, /guardrail 'hook-nobody' blocked this request: the guardrail failed: webhook unreachable: /);
    await waitFor(() => /'hook-enforce' failed \(no answer within 300 ms\): enforce mode lets it through/.test(ctx.gw.output), {
      what: 'the timeout log line',
    });
    assert.ok(!ctx.gw.output.includes('guard-secret-123'), 'the bearer never reaches the log');
  }),
);
