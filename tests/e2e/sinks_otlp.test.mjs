// The otlp sink: request records as OTLP/HTTP JSON traces with GenAI
// semantic-convention attributes, one span per phase; a client's W3C
// traceparent is honoured (same trace, the client's span as parent) and the
// upstream call carries the trace on with the gateway's span.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { openaiManifest, startGateway, waitFor, withLogs } from './lib/gateway.mjs';
import { startWebhook } from './lib/governance.mjs';
import { postJson } from './lib/http.mjs';
import { startOpenAIUpstream } from './lib/openai_upstream.mjs';

let up;
let collector;
let gw;

before(async () => {
  up = await startOpenAIUpstream();
  collector = await startWebhook();
  const endpoint = collector.url.replace(/\/alerts$/, '/otel');
  gw = await startGateway(
    openaiManifest(up.url, {
      top: `logging: {flush_interval_ms: 20}
sinks:
  - plugin: otlp
    config: {endpoint: "${endpoint}", service_name: sluice-test, headers: {x-api-key: otlp-secret-123}}
`,
    }),
  );
});

after(async () => {
  const exit = await gw?.stop();
  await collector?.close();
  await up?.close();
  assert.deepEqual(exit, { code: 0, signal: null });
});

function spansOf(trace) {
  const spans = [];
  for (const p of collector.posts) {
    for (const rs of p.json?.resourceSpans ?? []) {
      for (const ss of rs.scopeSpans) {
        for (const s of ss.spans) if (s.traceId === trace) spans.push({ ...s, resource: rs.resource, post: p });
      }
    }
  }
  return spans;
}

const attrs = (span) =>
  Object.fromEntries(span.attributes.map((a) => [a.key, Object.values(a.value)[0]]));

test(
  'a client traceparent: spans in the same trace, GenAI attributes, and the trace passed upstream',
  withLogs(async () => {
    const trace = '0af7651916cd43dd8448eb211c80319c';
    const clientSpan = 'b7ad6b7169203331';
    const res = await postJson(
      `${gw.url}/v1/chat/completions`,
      { model: 'up/gpt-4o', messages: [{ role: 'user', content: 'Hello' }] },
      { headers: { traceparent: `00-${trace}-${clientSpan}-01` } },
    );
    assert.equal(res.status, 200);

    // Upstream: the same trace id, the gateway's span as parent.
    const sent = up.last().headers.traceparent;
    const m = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(sent);
    assert.ok(m, `upstream traceparent ${sent}`);
    assert.equal(m[1], trace);
    assert.notEqual(m[2], clientSpan);

    const spans = await waitFor(() => (spansOf(trace).length >= 4 ? spansOf(trace) : null), { what: 'the request spans' });
    const post = spans[0].post;
    assert.equal(post.method, 'POST');
    assert.equal(post.path, '/otel/v1/traces');
    assert.match(post.headers['content-type'], /^application\/json/);
    assert.equal(post.headers['x-api-key'], 'otlp-secret-123');
    assert.deepEqual(spans[0].resource.attributes, [{ key: 'service.name', value: { stringValue: 'sluice-test' } }]);

    const root = spans.find((s) => s.kind === 2);
    assert.equal(root.spanId, m[2], 'the upstream call is the child of the request span');
    assert.equal(root.parentSpanId, clientSpan);
    assert.equal(root.name, 'POST /v1/chat/completions');
    assert.deepEqual(root.status, { code: 1 });
    const a = attrs(root);
    assert.equal(a['gen_ai.operation.name'], 'chat');
    assert.equal(a['gen_ai.system'], 'openai');
    assert.equal(a['gen_ai.provider.name'], 'openai');
    assert.equal(a['gen_ai.request.model'], 'up/gpt-4o');
    assert.equal(a['gen_ai.response.model'], 'up/gpt-4o');
    assert.match(a['gen_ai.usage.input_tokens'], /^\d+$/, 'int64 as a string, per OTLP JSON');
    assert.ok(Number(a['gen_ai.usage.output_tokens']) > 0);
    assert.equal(a['http.response.status_code'], String(200));
    assert.equal(a['sluice.request_id'], res.headers['x-sluice-request-id']);
    assert.ok(BigInt(root.endTimeUnixNano) >= BigInt(root.startTimeUnixNano));

    const byName = Object.fromEntries(spans.map((s) => [s.name, s]));
    for (const name of ['sluice.auth', 'sluice.route', 'chat up/gpt-4o']) {
      assert.ok(byName[name], `span ${name} in ${Object.keys(byName)}`);
      assert.equal(byName[name].parentSpanId, root.spanId);
      assert.ok(BigInt(byName[name].startTimeUnixNano) >= BigInt(root.startTimeUnixNano));
      assert.ok(BigInt(byName[name].endTimeUnixNano) <= BigInt(root.endTimeUnixNano));
    }
    assert.equal(byName['chat up/gpt-4o'].kind, 3, 'the provider call is a CLIENT span');
    assert.equal(attrs(byName['chat up/gpt-4o'])['gen_ai.request.model'], 'up/gpt-4o');
  }),
);

test(
  'without a traceparent the gateway starts a trace; an upstream error marks the spans',
  withLogs(async () => {
    up.once({ status: 500, json: { error: { message: 'boom', type: 'server_error', code: 'boom' } } });
    const res = await postJson(`${gw.url}/v1/chat/completions`, { model: 'up/gpt-4o', messages: [{ role: 'user', content: 'Hi' }] });
    assert.equal(res.status, 500);
    const m = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(up.last().headers.traceparent);
    assert.ok(m);
    const spans = await waitFor(() => (spansOf(m[1]).length >= 3 ? spansOf(m[1]) : null), { what: 'the error spans' });
    const root = spans.find((s) => s.kind === 2);
    assert.equal(root.parentSpanId, undefined);
    assert.deepEqual(root.status, { code: 2, message: 'boom' });
    assert.equal(attrs(root)['error.type'], 'boom');
  }),
);

test(
  'a malformed traceparent is ignored: a new trace, never the client text',
  withLogs(async () => {
    const res = await postJson(
      `${gw.url}/v1/chat/completions`,
      { model: 'up/gpt-4o', messages: [{ role: 'user', content: 'Hi' }] },
      { headers: { traceparent: '00-00000000000000000000000000000000-b7ad6b7169203331-01' } },
    );
    assert.equal(res.status, 200);
    const sent = up.last().headers.traceparent;
    assert.match(sent, /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    assert.ok(!sent.includes('00000000000000000000000000000000'));
  }),
);
