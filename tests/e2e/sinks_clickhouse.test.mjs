// The clickhouse sink against a real clickhouse-server (Debian's 18.16): the
// table is created, records arrive as rows; ClickHouse killed mid-load —
// requests keep succeeding, what cannot be delivered is counted dropped — and
// after a restart inserts resume. Every record ends up either in the table or
// in the drop counter.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { startGateway, waitFor, withLogs } from './lib/gateway.mjs';
import { chat, governanceManifest, mockProvider } from './lib/governance.mjs';
import { sample, scrape, startClickHouse } from './lib/sinks.mjs';

const PASSWORD = 'ch-pass-do-not-leak';
let ch;
let gw;

before(async () => {
  ch = await startClickHouse({ password: PASSWORD });
  gw = await startGateway(
    governanceManifest({
      providers: [mockProvider('mock', ['m'])],
      logging: { flush_interval_ms: 20 },
      sinks: [
        {
          plugin: 'clickhouse',
          config: { url: ch.url, user: 'sluice', password: '${env:CH_PASSWORD}', table: 'requests_e2e', max_buffer_records: 50, timeout_ms: 2000 },
        },
      ],
    }),
    { env: { CH_PASSWORD: PASSWORD } },
  );
});

after(async () => {
  const exit = await gw?.stop();
  await ch?.stop();
  assert.deepEqual(exit, { code: 0, signal: null });
});

async function tableCount(where = '1') {
  return Number((await ch.query(`SELECT count() FROM default.requests_e2e WHERE ${where}`)).trim());
}

async function dropped() {
  return sample(await scrape(gw), 'sluice_sink_dropped_total', { sink: 'clickhouse' });
}

test(
  'records become rows in the table the sink created',
  withLogs(async () => {
    const ids = [];
    for (let i = 0; i < 20; i++) {
      const res = await chat(gw, { model: 'mock/m', metadata: { phase: 'before' } });
      assert.equal(res.status, 200);
      ids.push(res.headers['x-sluice-request-id']);
    }
    await waitFor(async () => (await tableCount()) === 20, { timeoutMs: 15000, what: '20 rows in ClickHouse' });
    const [row] = await ch.rows(`SELECT * FROM default.requests_e2e WHERE id = '${ids[0]}'`);
    assert.equal(row.subject, 'anonymous');
    assert.equal(row.requested_model, 'mock/m');
    assert.equal(row.resolved_model, 'mock/m');
    assert.equal(row.provider, 'mock');
    assert.equal(row.status, 200);
    assert.equal(row.stream, 0);
    assert.ok(Number(row.completion_tokens) > 0);
    assert.deepEqual(JSON.parse(row.metadata), { phase: 'before' });
    assert.equal(JSON.parse(row.record).id, ids[0]);
    assert.ok(Math.abs(Number(row.start_ms) - Date.now()) < 120000);
    assert.equal(await dropped(), 0);
  }),
);

test(
  'ClickHouse killed mid-load: requests keep succeeding, drops are counted, inserts resume after a restart',
  withLogs(async () => {
    await ch.kill();
    for (let i = 0; i < 120; i++) {
      const res = await chat(gw, { model: 'mock/m', metadata: { phase: 'outage' } });
      assert.equal(res.status, 200, 'a dead sink never fails a request');
    }
    // 50 rows wait in the buffer; the other 70 are dropped and counted.
    await waitFor(async () => (await dropped()) === 70, { timeoutMs: 15000, what: 'clickhouse drops counted' });

    await ch.start();
    // The 50 buffered rows go in once the sink's retry finds ClickHouse back.
    await waitFor(async () => (await tableCount()) === 70, { timeoutMs: 20000, intervalMs: 100, what: 'the buffered rows inserted' });
    for (let i = 0; i < 10; i++) assert.equal((await chat(gw, { model: 'mock/m', metadata: { phase: 'after' } })).status, 200);
    await waitFor(async () => (await tableCount("visitParamExtractString(metadata, 'phase') = 'after'")) === 10, {
      timeoutMs: 15000,
      what: 'new inserts after the restart',
    });
    // Every one of the 150 records is a row or a counted drop.
    await waitFor(async () => (await tableCount()) + (await dropped()) === 150, {
      timeoutMs: 15000,
      what: 'rows + drops = 150',
    });
    const s = await scrape(gw);
    assert.equal(sample(s, 'sluice_sink_records_total', { sink: 'clickhouse' }), 150);
    assert.match(gw.stderr, /plugin clickhouse: delivery failed: /, 'the outage is logged');
    assert.ok(!gw.output.includes(PASSWORD), 'the ClickHouse password never reaches the log');
  }),
);
