// Rate limits shared through a real Redis: three gateways (two workers each)
// admit exactly the limit between them; Redis killed under load (no crash,
// fail_open keeps admitting, fail_closed answers 503 state_unavailable);
// Redis back on the same port and counting resumes. /admin/limits shows the
// backend and whether it is connected.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { startGateway, waitFor, withLogs } from './lib/gateway.mjs';
import {
  HOUR_MS,
  MINUTE_MS,
  adminLimits,
  assertApiError,
  assertRetryAfter,
  awaitWindowRoom,
  chat,
  governanceManifest,
  mockProvider,
  rateCounter,
  rateRule,
} from './lib/governance.mjs';
import { request } from './lib/http.mjs';
import { startRedis } from './lib/redis.mjs';

const SHARED_LIMIT = 100;
const SHARED_REQUESTS = 300;

function manifest(redisUrl, onUnavailable) {
  return governanceManifest(
    {
      providers: [mockProvider('mock', ['m'], { reply: 'ok' })],
      // A command timeout well above a busy machine's hiccups: Redis counts
      // as away here only when it is (killed, below), never by accident.
      state: { backend: 'redis', redis: { url: redisUrl, timeout_ms: 2000 }, on_unavailable: onUnavailable },
      rate_limits: [
        { id: 'shared', when: { metadata: { suite: 'shared' } }, limit_to: SHARED_LIMIT, unit: 'requests_per_minute' },
        { id: 'load', when: { metadata: { suite: 'load' } }, limit_to: 1000000, unit: 'requests_per_hour' },
        {
          id: 'after',
          when: { metadata: { suite: 'after' } },
          limit_to: 2,
          unit: 'requests_per_hour',
          applies_per: ['metadata.case'],
        },
      ],
    },
    { workers: 2 },
  );
}

let redis;
let open = []; // three fail_open gateways
let closed; // one fail_closed gateway
const all = () => [...open, closed].filter(Boolean);

before(async () => {
  redis = await startRedis();
  for (let i = 0; i < 3; i++) open.push(await startGateway(manifest(redis.url, 'fail_open')));
  closed = await startGateway(manifest(redis.url, 'fail_closed'));
});
after(async () => {
  const exits = [];
  for (const gw of all()) exits.push([gw, await gw.stop()]);
  await redis?.stop();
  for (const [gw, exit] of exits) assert.deepEqual(exit, { code: 0, signal: null }, `exit of ${gw.dump()}`);
});

const send = (gw, metadata) => chat(gw, { model: 'mock/m', metadata });

async function stateOf(gw) {
  return (await adminLimits(gw)).state;
}

test(
  'three gateways on one Redis admit exactly 100 of 300 concurrent requests in a minute',
  withLogs(async (t) => {
    await awaitWindowRoom(MINUTE_MS, 8000);
    const minute = Math.floor(Date.now() / MINUTE_MS);
    const answers = await Promise.all(
      Array.from({ length: SHARED_REQUESTS }, (_, i) => send(open[i % open.length], { suite: 'shared' })),
    );
    assert.equal(Math.floor(Date.now() / MINUTE_MS), minute, 'the burst finished within one UTC minute');
    const admitted = answers.filter((r) => r.status === 200);
    const refused = answers.filter((r) => r.status !== 200);
    t.diagnostic(
      `per gateway admitted: ${open.map((_, g) => answers.filter((r, i) => i % 3 === g && r.status === 200).length)}`,
    );
    assert.equal(admitted.length, SHARED_LIMIT, `admitted ${admitted.length} of ${SHARED_REQUESTS}`);
    assert.equal(refused.length, SHARED_REQUESTS - SHARED_LIMIT);
    for (const res of refused) {
      const e = assertApiError(res, 429, { type: 'rate_limit_error', code: 'rate_limit_exceeded', param: null });
      assert.match(e.message, /^rate limit 'shared' exceeded: 100 requests per minute\b.*; retry in \d+s$/);
      assert.match(res.headers['retry-after'] ?? '', /^\d+$/);
      assert.equal(res.headers['x-ratelimit-limit-requests'], '100');
      assert.equal(res.headers['x-ratelimit-remaining-requests'], '0');
    }
    const remaining = admitted.map((r) => Number(r.headers['x-ratelimit-remaining-requests'])).sort((a, b) => a - b);
    assert.deepEqual(
      remaining,
      Array.from({ length: SHARED_LIMIT }, (_, i) => i),
      'each admitted request saw its own count',
    );

    for (const gw of open) {
      const limits = await adminLimits(gw);
      assert.deepEqual(
        limits.state,
        { backend: 'redis', connected: true, unavailable_total: 0, on_unavailable: 'fail_open' },
        `state of gateway ${gw.id}`,
      );
      const rule = rateRule(limits, 'shared');
      assert.equal(rule.limit, SHARED_LIMIT);
      const c = rateCounter(limits, 'shared', '');
      assert.ok(c, `the shared counter on gateway ${gw.id}: ${JSON.stringify(rule)}`);
      assert.equal(c.used, SHARED_LIMIT, `used as seen by gateway ${gw.id}`);
      assert.equal(c.remaining, 0);
    }
    assert.equal((await stateOf(closed)).on_unavailable, 'fail_closed');
  }),
);

test(
  'Redis killed under load: no crash, fail_open keeps admitting, fail_closed answers 503 state_unavailable',
  withLogs(async () => {
    const results = { open: [], closed: [] };
    const batch = () =>
      Promise.all([
        ...Array.from({ length: 4 }, () => send(open[0], { suite: 'load' }).then((r) => results.open.push(r))),
        ...Array.from({ length: 4 }, () => send(closed, { suite: 'load' }).then((r) => results.closed.push(r))),
      ]);
    for (let i = 0; i < 3; i++) await batch();
    assert.ok(
      results.closed.every((r) => r.status === 200),
      'all admitted while Redis is up',
    );
    // Kill it while a batch is in flight.
    const inFlight = batch();
    await redis.kill();
    await inFlight;
    for (let i = 0; i < 5; i++) await batch();

    for (const res of results.open) assert.equal(res.status, 200, `fail_open: ${res.text}`);
    for (const res of results.closed) {
      if (res.status === 200) continue;
      assertApiError(res, 503, { code: 'state_unavailable' });
    }
    // Once the loss is noticed, fail_closed refuses every request.
    await waitFor(async () => (await send(closed, { suite: 'load' })).status === 503, {
      timeoutMs: 5000,
      what: 'fail_closed answering 503',
    });
    for (let i = 0; i < 5; i++) {
      const res = await send(closed, { suite: 'load' });
      const e = assertApiError(res, 503, { code: 'state_unavailable' });
      assert.ok(e.message.length > 0);
      const ok = await send(open[1], { suite: 'load' });
      assert.equal(ok.status, 200, `fail_open while Redis is down: ${ok.text}`);
    }
    // A limited request is admitted too on fail_open: nothing can be counted.
    for (let i = 0; i < 3; i++) {
      const res = await send(open[2], { suite: 'after', case: 'while-down' });
      assert.equal(res.status, 200, res.text);
    }

    for (const gw of all()) {
      assert.equal(gw.exit, null, `gateway ${gw.id} is still running`);
      const health = await request(`${gw.adminUrl}/healthz`);
      assert.equal(health.status, 200);
    }
    const state = await stateOf(open[0]);
    assert.equal(state.backend, 'redis');
    assert.equal(state.connected, false, JSON.stringify(state));
    assert.ok(state.unavailable_total > 0, JSON.stringify(state));
    const closedState = await stateOf(closed);
    assert.equal(closedState.connected, false, JSON.stringify(closedState));
    assert.equal(closedState.on_unavailable, 'fail_closed');
  }),
);

test(
  'Redis back on the same port: the gateways reconnect and counting resumes across them',
  withLogs(async () => {
    await awaitWindowRoom(HOUR_MS, 15000);
    await redis.restart();
    for (const gw of all()) {
      await waitFor(async () => (await stateOf(gw)).connected === true, {
        timeoutMs: 15000,
        what: `gateway ${gw.id} reconnected to Redis`,
      });
    }
    const first = await send(open[0], { suite: 'after', case: 'r1' });
    assert.equal(first.status, 200, first.text);
    assert.equal(first.headers['x-ratelimit-remaining-requests'], '1');
    const second = await send(closed, { suite: 'after', case: 'r1' });
    assert.equal(second.status, 200, second.text);
    assert.equal(second.headers['x-ratelimit-remaining-requests'], '0');
    const sentAt = Date.now();
    const third = await send(open[1], { suite: 'after', case: 'r1' });
    const e = assertApiError(third, 429, { type: 'rate_limit_error', code: 'rate_limit_exceeded', param: null });
    const m = /^rate limit 'after' exceeded: 2 requests per hour for metadata\.case=r1; retry in (\d+)s$/.exec(
      e.message,
    );
    assert.ok(m, `message: ${e.message}`);
    assert.equal(Number(m[1]), assertRetryAfter(third, sentAt - (sentAt % HOUR_MS) + HOUR_MS, sentAt));

    const dbsize = await redis.command('DBSIZE');
    assert.match(dbsize, /^:[1-9]\d*\r\n$/, `the counters live in Redis: ${dbsize}`);
    for (const gw of [open[0], closed]) {
      const limits = await adminLimits(gw);
      assert.equal(limits.state.backend, 'redis');
      assert.equal(limits.state.connected, true);
      assert.equal(
        rateCounter(limits, 'after', 'metadata.case=r1')?.used,
        2,
        JSON.stringify(rateRule(limits, 'after')),
      );
    }
  }),
);
