// Budgets under concurrency: a $1 budget and 50 simultaneous requests whose
// worst case is exactly $0.10 each. Reservations must make overspending
// impossible: at most 10 are admitted, every other one is refused, and the
// spend (settled plus reserved) in /admin/limits never passes $1. Once with
// the memory backend and once with Redis.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';

import { startGateway, waitFor, withLogs } from './lib/gateway.mjs';
import { adminLimits, assertApiError, budgetEntry, chat, governanceManifest, mockProvider } from './lib/governance.mjs';
import { startRedis } from './lib/redis.mjs';

const REQUESTS = 50;
const LIMIT_USD = 1;
const OUT_PRICE = 100; // USD per million output tokens
const MAX_TOKENS = 1000; // worst case 1000 x $0.0001 = $0.10; input is free
const WORST_USD = (MAX_TOKENS * OUT_PRICE) / 1e6;
const REPLY_COST = (1 * OUT_PRICE) / 1e6; // the reply "ok" is one completion token
const LATENCY_MS = 1500; // every admitted request holds its reservation this long
const EPS = 1e-9;

function manifest(state) {
  return governanceManifest(
    {
      providers: [
        mockProvider('paid', [{ name: 'm', pricing: { input_per_mtok: 0, output_per_mtok: OUT_PRICE } }], {
          reply: 'ok',
          latency_ms: LATENCY_MS,
        }),
      ],
      budgets: [{ id: 'dollar', limit_to: LIMIT_USD, unit: 'cost_per_day', on_exceed: 'block' }],
      ...(state ? { state } : {}),
    },
    { workers: 2 },
  );
}

const cleanup = [];
after(async () => {
  for (const fn of cleanup.reverse()) await fn();
});

// Polls the budget entry while `work` runs; resolves the work's result and
// the highest settled and settled + reserved spend seen.
async function watchSpend(gw, work) {
  let running = true;
  const seen = { maxSpent: 0, maxCommitted: 0, samples: 0 };
  const watcher = (async () => {
    while (running) {
      const entry = budgetEntry(await adminLimits(gw), 'dollar', '');
      if (entry) {
        seen.samples++;
        seen.maxSpent = Math.max(seen.maxSpent, entry.spent);
        seen.maxCommitted = Math.max(seen.maxCommitted, entry.spent + entry.reserved);
      }
    }
  })();
  try {
    return { result: await work(), seen };
  } finally {
    running = false;
    await watcher;
  }
}

async function burst(gw) {
  const sends = [];
  for (let i = 0; i < REQUESTS; i++) {
    sends.push(
      chat(gw, { model: 'paid/m', content: `request ${i}`, extra: { max_tokens: MAX_TOKENS } }).then((res) =>
        Object.assign(res, { at: Date.now() }),
      ),
    );
  }
  const allSent = Date.now();
  const answers = await Promise.all(sends);
  return { answers, allSent };
}

async function checkBudgetUnderBurst(t, gw, backend) {
  // Readiness does not wait for Redis (fail_open serves without it): the
  // burst does.
  const state = await waitFor(
    async () => {
      const s = (await adminLimits(gw)).state;
      return s?.connected ? s : null;
    },
    { timeoutMs: 5000, what: `the ${backend} state backend connected` },
  );
  assert.equal(state.backend, backend, JSON.stringify(state));

  const { result, seen } = await watchSpend(gw, () => burst(gw));
  const { answers, allSent } = result;
  const admitted = answers.filter((r) => r.status === 200);
  for (const res of answers.filter((r) => r.status !== 200)) {
    const e = assertApiError(res, 429, { code: 'budget_exceeded' });
    assert.match(e.message, /^budget 'dollar' exceeded/);
    assert.match(res.headers['retry-after'] ?? '', /^\d+$/);
  }
  const after = (await adminLimits(gw)).state;
  assert.equal(after.unavailable_total, 0, `the state backend answered every call: ${JSON.stringify(after)}`);
  assert.ok(admitted.length <= LIMIT_USD / WORST_USD, `at most 10 admitted, got ${admitted.length}`);
  assert.ok(admitted.length >= 1, 'some were admitted');
  // Every request was sent long before the first admitted one could finish,
  // so every one of them found the ten reservations (or fewer) in place.
  const firstOk = Math.min(...admitted.map((r) => r.at));
  if (firstOk - allSent > LATENCY_MS / 2) {
    assert.equal(admitted.length, LIMIT_USD / WORST_USD, 'all requests were in flight together: exactly 10 fit');
  }
  t.diagnostic(
    `${backend}: ${admitted.length} admitted, first admitted answer ${firstOk - allSent} ms after the last send, ` +
      `${seen.samples} samples, max spent + reserved $${seen.maxCommitted}`,
  );
  assert.ok(seen.samples > 0, 'the budget was observed during the burst');
  assert.ok(seen.maxCommitted <= LIMIT_USD + EPS, `spent + reserved never above $1: ${seen.maxCommitted}`);
  assert.ok(seen.maxSpent <= LIMIT_USD + EPS, `spent never above $1: ${seen.maxSpent}`);

  // Settled: the reservations are gone, the real cost remains.
  const spent = admitted.length * REPLY_COST;
  const entry = await waitFor(
    async () => {
      const e = budgetEntry(await adminLimits(gw), 'dollar', '');
      return e && e.reserved === 0 && Math.abs(e.spent - spent) < EPS ? e : null;
    },
    { timeoutMs: 5000, what: `dollar settled to ${spent}` },
  );
  assert.ok(Math.abs(entry.remaining - (LIMIT_USD - spent)) < EPS, JSON.stringify(entry));
  // With the reservations released there is room again.
  const again = await chat(gw, { model: 'paid/m', extra: { max_tokens: MAX_TOKENS } });
  assert.equal(again.status, 200, again.text);
}

test(
  'memory backend: 50 concurrent requests against a $1 budget at $0.10 worst case each',
  withLogs(async (t) => {
    const gw = await startGateway(manifest(null));
    cleanup.push(() => gw.stop());
    await checkBudgetUnderBurst(t, gw, 'memory');
    assert.deepEqual(await gw.stop(), { code: 0, signal: null });
  }),
);

test(
  'redis backend: 50 concurrent requests against a $1 budget at $0.10 worst case each',
  withLogs(async (t) => {
    const redis = await startRedis();
    cleanup.push(() => redis.stop());
    // A generous command timeout: this test is about exactness, and a
    // scheduling hiccup on a busy machine must not count as Redis being away
    // (governance_redis.test.mjs covers that).
    const gw = await startGateway(manifest({ backend: 'redis', redis: { url: redis.url, timeout_ms: 5000 } }));
    cleanup.push(() => gw.stop());
    await checkBudgetUnderBurst(t, gw, 'redis');
    assert.deepEqual(await gw.stop(), { code: 0, signal: null });
  }),
);
