// Sinks are swapped by a manifest edit and a reload; unchanged sinks keep
// running (their counters too); a sink that cannot start refuses the reload.
// A full queue drops records and counts them, and a sink that never answers
// holds no request up. At shutdown, every queued record reaches the sinks.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { test } from 'node:test';

import { SOURCE_DIR, runSluice, startGateway, waitFor, withLogs } from './lib/gateway.mjs';
import { chat, governanceManifest, mockProvider } from './lib/governance.mjs';
import { sample, scrape } from './lib/sinks.mjs';

function lines(gw, file) {
  try {
    return readFileSync(path.join(gw.dir, file), 'utf8').split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

async function reload(gw, sections, expect) {
  const before = gw.stderr.length;
  writeFileSync(gw.manifestPath, governanceManifest(sections)({ port: gw.port, adminPort: gw.adminPort }));
  gw.signal('SIGHUP');
  await waitFor(() => expect.test(gw.stderr.slice(before)), { what: `reload: ${expect}` });
}

test(
  'a reload swaps sinks; unchanged ones keep their state; a bad one refuses the reload',
  withLogs(async () => {
    const base = { providers: [mockProvider('mock', ['m'])], logging: { flush_interval_ms: 20 } };
    const prom = { plugin: 'prometheus' };
    const gw = await startGateway(governanceManifest({ ...base, sinks: [{ plugin: 'access-log', config: { path: './a.log' } }, prom] }));
    try {
      for (let i = 0; i < 2; i++) assert.equal((await chat(gw, { model: 'mock/m' })).status, 200);
      await waitFor(() => lines(gw, 'a.log').length === 2, { what: 'two lines in a.log' });

      await reload(gw, { ...base, sinks: [{ plugin: 'access-log', config: { path: './b.log' } }, prom, { plugin: 'sqlite', config: { path: './r.db' } }] }, /manifest reloaded/);
      for (let i = 0; i < 3; i++) assert.equal((await chat(gw, { model: 'mock/m' })).status, 200);
      await waitFor(() => lines(gw, 'b.log').length === 3, { what: 'three lines in b.log' });
      assert.equal(lines(gw, 'a.log').length, 2, 'the old sink got nothing more');
      const s = await scrape(gw);
      assert.equal(sample(s, 'sluice_requests_total', { model: 'mock/m', status: '200' }), 5, 'prometheus kept its counts');
      assert.equal(sample(s, 'sluice_sink_records_total', { sink: 'sqlite' }), 3);
      assert.equal(sample(s, 'sluice_sink_records_total', { sink: 'access-log' }), 3, 'the new access log');

      await reload(gw, { ...base, sinks: [{ plugin: 'sqlite', config: { path: '/proc/no/such/dir/r.db' } }] }, /manifest refused/);
      assert.match(gw.stderr, /sinks\[0\] \(sqlite\): cannot open \/proc\/no\/such\/dir\/r\.db/);
      assert.equal((await chat(gw, { model: 'mock/m' })).status, 200);
      await waitFor(() => lines(gw, 'b.log').length === 4, { what: 'the running sinks still log' });
    } finally {
      assert.deepEqual(await gw.stop(), { code: 0, signal: null });
    }
  }),
);

test(
  'a full queue drops records and counts them; shutdown delivers what was queued',
  withLogs(async () => {
    // A 16-record queue the sink thread drains only every minute: the 17th record has no room.
    const gw = await startGateway(
      governanceManifest({
        providers: [mockProvider('mock', ['m'])],
        logging: { queue_records: 16, batch_records: 65536, flush_interval_ms: 60000 },
        sinks: [{ plugin: 'access-log', config: { path: './q.log' } }],
      }),
    );
    for (let i = 0; i < 40; i++) assert.equal((await chat(gw, { model: 'mock/m' })).status, 200);
    const s = await scrape(gw);
    assert.equal(sample(s, 'sluice_telemetry_records_total'), 40);
    assert.equal(sample(s, 'sluice_telemetry_queue_dropped_total'), 24);
    assert.equal(sample(s, 'sluice_telemetry_queue_depth'), 16);
    assert.equal(lines(gw, 'q.log').length, 0, 'nothing delivered yet');
    assert.deepEqual(await gw.stop(), { code: 0, signal: null });
    assert.equal(lines(gw, 'q.log').length, 16, 'the queued records, written at shutdown');
  }),
);

test(
  'a sink whose endpoint never answers holds no request up; what it cannot send is counted',
  withLogs(async () => {
    const held = [];
    const blackhole = http.createServer((req, res) => held.push(res));
    await new Promise((resolve) => blackhole.listen(0, '127.0.0.1', resolve));
    const gw = await startGateway(
      governanceManifest({
        providers: [mockProvider('mock', ['m'])],
        logging: { flush_interval_ms: 10 },
        sinks: [{ plugin: 'otlp', config: { endpoint: `http://127.0.0.1:${blackhole.address().port}`, max_in_flight: 1, timeout_ms: 600000 } }],
      }),
    );
    try {
      await waitFor(async () => {
        assert.equal((await chat(gw, { model: 'mock/m' })).status, 200);
        return held.length === 1 && sample(await scrape(gw), 'sluice_sink_dropped_total', { sink: 'otlp' }) > 0;
      }, { what: 'one export hanging and later batches dropped' });
      for (let i = 0; i < 20; i++) assert.equal((await chat(gw, { model: 'mock/m' })).status, 200);
      assert.equal(held.length, 1, 'max_in_flight: 1');
    } finally {
      assert.deepEqual(await gw.stop(), { code: 0, signal: null });
      for (const res of held) res.destroy();
      blackhole.close();
    }
  }),
);

test(
  'examples/observability.yaml validates against the real sink plugins',
  withLogs(async () => {
    const r = await runSluice(['validate', '-c', path.join(SOURCE_DIR, 'examples', 'observability.yaml')]);
    assert.equal(r.code, 0, r.output);
    assert.match(r.stdout, /observability\.yaml: ok/);
  }),
);
