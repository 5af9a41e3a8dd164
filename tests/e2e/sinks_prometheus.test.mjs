// The prometheus sink and /metrics: stable metric names and labels, the
// metadata_labels allowlist, rate-limit and upstream-error families, the
// kernel's sink counters — and a real Prometheus server (Debian's) scraping
// the admin listener and answering PromQL over what it scraped.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { startGateway, waitFor, withLogs } from './lib/gateway.mjs';
import { chat, credential, governanceManifest, mockProvider } from './lib/governance.mjs';
import { request } from './lib/http.mjs';
import { sample, scrape, startPrometheus } from './lib/sinks.mjs';

const alice = credential('alice');
let gw;
let prom;

before(async () => {
  gw = await startGateway(
    governanceManifest({
      providers: [
        mockProvider('mock', [{ name: 'm', pricing: { input_per_mtok: 1000, output_per_mtok: 2000 } }, { name: 'broken', upstream_name: 'error-503' }], { reply: 'one two three' }),
      ],
      auth: {
        teams: [{ name: 'red', members: ['alice@example.com'] }],
        users: [{ email: 'alice@example.com', token_sha256: alice.sha256, models: ['*'] }],
      },
      rate_limits: [{ id: 'one-per-minute', when: { metadata: { env: 'limited' } }, limit_to: 1, unit: 'requests_per_minute' }],
      logging: { flush_interval_ms: 20 },
      sinks: [{ plugin: 'prometheus', config: { metadata_labels: ['env'] } }],
    }),
  );
  prom = await startPrometheus(`127.0.0.1:${gw.adminPort}`);
});

after(async () => {
  await prom?.stop();
  assert.deepEqual(await gw?.stop(), { code: 0, signal: null });
});

const FAMILIES = {
  sluice_requests_total: ['model', 'provider', 'status', 'env'],
  sluice_input_tokens_total: ['model', 'provider', 'env'],
  sluice_output_tokens_total: ['model', 'provider', 'env'],
  sluice_cost_usd_total: ['model', 'provider', 'env'],
  sluice_request_duration_seconds_bucket: ['model', 'provider', 'le'],
  sluice_request_duration_seconds_sum: ['model', 'provider'],
  sluice_request_duration_seconds_count: ['model', 'provider'],
  sluice_ttft_seconds_bucket: ['model', 'provider', 'le'],
  sluice_upstream_errors_total: ['model', 'provider', 'status'],
  sluice_rate_limit_events_total: ['rule', 'action'],
  sluice_telemetry_records_total: [],
  sluice_telemetry_queue_dropped_total: [],
  sluice_telemetry_queue_depth: [],
  sluice_sink_records_total: ['sink'],
  sluice_sink_dropped_total: ['sink'],
  sluice_prometheus_series_dropped_total: [],
};

test(
  '/metrics: requests, tokens, cost, latency, upstream errors and rate-limit events with stable names and labels',
  withLogs(async () => {
    for (let i = 0; i < 3; i++) {
      assert.equal((await chat(gw, { model: 'mock/m', content: 'abcdefgh', token: alice.token, metadata: { env: 'prod', secret_key: 'not-a-label' } })).status, 200);
    }
    assert.equal((await chat(gw, { model: 'mock/broken', token: alice.token, metadata: { env: 'prod' } })).status, 503);
    assert.equal((await chat(gw, { model: 'mock/m', token: alice.token, metadata: { env: 'limited' } })).status, 200);
    assert.equal((await chat(gw, { model: 'mock/m', token: alice.token, metadata: { env: 'limited' } })).status, 429);

    const s = await waitFor(
      async () => {
        const all = await scrape(gw);
        return sample(all, 'sluice_sink_records_total', { sink: 'prometheus' }) >= 6 ? all : null;
      },
      { what: 'six records in the prometheus sink' },
    );
    // Names and label sets are part of the contract: dashboards depend on them.
    for (const [name, labels] of Object.entries(FAMILIES)) {
      const series = s.filter((x) => x.name === name);
      assert.ok(series.length > 0, `no ${name}`);
      for (const x of series) assert.deepEqual(Object.keys(x.labels).sort(), [...labels].sort(), `${name} labels`);
    }
    const ok = { model: 'mock/m', provider: 'mock', env: 'prod' };
    assert.equal(sample(s, 'sluice_requests_total', { ...ok, status: '200' }), 3);
    assert.equal(sample(s, 'sluice_input_tokens_total', ok), 6); // ceil(8/4) each
    assert.equal(sample(s, 'sluice_output_tokens_total', ok), 9);
    assert.ok(Math.abs(sample(s, 'sluice_cost_usd_total', ok) - (6 * 1000 + 9 * 2000) / 1e6) < 1e-9);
    assert.equal(sample(s, 'sluice_request_duration_seconds_count', { model: 'mock/m', provider: 'mock' }), 4);
    assert.equal(sample(s, 'sluice_request_duration_seconds_bucket', { model: 'mock/m', provider: 'mock', le: '+Inf' }), 4);
    assert.equal(sample(s, 'sluice_requests_total', { model: 'mock/broken', provider: 'mock', status: '503', env: 'prod' }), 1);
    assert.equal(sample(s, 'sluice_upstream_errors_total', { model: 'mock/broken', provider: 'mock', status: '503' }), 1);
    assert.equal(sample(s, 'sluice_rate_limit_events_total', { rule: 'one-per-minute', action: 'blocked' }), 1);
    assert.equal(sample(s, 'sluice_requests_total', { model: 'mock/m', provider: '', status: '429', env: 'limited' }), 1);
    assert.equal(sample(s, 'sluice_sink_dropped_total', { sink: 'prometheus' }), 0);
    assert.equal(sample(s, 'sluice_telemetry_queue_dropped_total'), 0);
    assert.ok(!s.some((x) => 'secret_key' in x.labels), 'only allowlisted metadata keys become labels');
  }),
);

test(
  'a real Prometheus scrapes /metrics and answers PromQL over it',
  withLogs(async () => {
    await waitFor(
      async () => (await prom.targets()).some((t) => t.health === 'up'),
      { timeoutMs: 30000, intervalMs: 200, what: 'the sluice target up in prometheus' },
    );
    const result = await waitFor(
      async () => {
        const r = await prom.query('sum by (model, status) (sluice_requests_total{env="prod"})');
        return r.length >= 2 ? r : null;
      },
      { timeoutMs: 30000, intervalMs: 200, what: 'sluice_requests_total in prometheus' },
    );
    const byKey = Object.fromEntries(result.map((r) => [`${r.metric.model} ${r.metric.status}`, Number(r.value[1])]));
    assert.equal(byKey['mock/m 200'], 3);
    assert.equal(byKey['mock/broken 503'], 1);
    const hist = await prom.query('histogram_quantile(0.5, sum by (le) (sluice_request_duration_seconds_bucket))');
    assert.equal(hist.length, 1);
    assert.ok(Number(hist[0].value[1]) > 0);
  }),
);

test(
  'metadata_labels that cannot be label names stop the gateway, naming the key',
  withLogs(async () => {
    const { runSluice, writeManifest } = await import('./lib/gateway.mjs');
    const file = writeManifest(`version: 1
server: {listen: ["127.0.0.1:0"]}
providers: [{name: mock, type: mock, models: [m]}]
sinks: [{plugin: prometheus, config: {metadata_labels: [env, "team-name"]}}]
`);
    const r = await runSluice(['serve', '-c', file]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /sinks\[0\] \(prometheus\): metadata_labels: 'team-name' cannot be a Prometheus label name/);
    const reserved = await request(`${gw.adminUrl}/metrics`);
    assert.equal(reserved.status, 200, 'the running gateway is unaffected');
  }),
);
