// The routing strategies against live mock upstreams: weighted traffic
// within a chi-square bound over 2,000 requests, sticky sessions, the latency
// strategy moving traffic to the target with the lower time per output
// token, and the priority SLA cutoff marking a slow target and restoring it.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { waitFor, withLogs } from './lib/gateway.mjs';
import { chat, chiSquare, pool, routingManifest, routingSuite, targetReport } from './lib/routing.mjs';

const ctx = routingSuite(['a', 'b', 'c'], (ups) =>
  routingManifest(ups, {
    // Stats belong to a target name, whichever rule uses it: the latency
    // and SLA rules get targets of their own (gpt-4o-mini) so that the
    // other tests' answers do not count in their means.
    models: ['gpt-4o', 'gpt-4o-mini'],
    virtualModels: ['prod/split', 'prod/sticky', 'prod/fastest', 'prod/sla'],
    routing: `  - id: split
    when: {models: [prod/split]}
    strategy: weighted
    targets:
      - {target: up-a/gpt-4o, weight: 60}
      - {target: up-b/gpt-4o, weight: 30}
      - {target: up-c/gpt-4o, weight: 10}
  - id: sticky
    when: {models: [prod/sticky]}
    strategy: weighted
    sticky_routing:
      ttl_seconds: 600
      session_identifiers: [{source: metadata, key: session_id}, {source: header, key: X-Session-Id}]
    targets:
      - {target: up-a/gpt-4o, weight: 50}
      - {target: up-b/gpt-4o, weight: 50}
  - id: fastest
    when: {models: [prod/fastest]}
    strategy: latency
    equal_within: 1.2
    min_samples: 3
    targets: [up-a/gpt-4o-mini, up-b/gpt-4o-mini]
  - id: sla
    when: {models: [prod/sla]}
    strategy: priority
    targets:
      - {target: up-c/gpt-4o-mini, priority: 0, sla_cutoff: {time_per_output_token_ms: 20, window_seconds: 5}}
      - {target: up-b/gpt-4o, priority: 1}
`,
  }),
);

// Chi-square critical value for 2 degrees of freedom at p = 1e-6: a gateway
// that splits 60/30/10 exceeds it about once in a million runs, so the test
// is not flaky; a split off by 5 points (55/35/10) gives a statistic near 26
// on average and 50/40/10 near 100, so it still catches a wrong split.
const CHI2_DF2_P1E6 = 27.63;

test(
  'weighted: 2,000 requests split 60/30/10 within a chi-square bound',
  withLogs(async () => {
    const answers = await pool(2000, 16, () => chat(ctx.gw, 'prod/split'));
    assert.ok(answers.every((r) => r.status === 200), 'every request answered');
    const observed = ['a', 'b', 'c'].map((n) => ctx.ups[n].requests.length);
    assert.equal(observed.reduce((x, y) => x + y, 0), 2000, 'one upstream request per request');
    const byHeader = ['up-a/gpt-4o', 'up-b/gpt-4o', 'up-c/gpt-4o'].map(
      (t) => answers.filter((r) => r.headers['x-sluice-resolved-model'] === t).length,
    );
    assert.deepEqual(byHeader, observed, 'x-sluice-resolved-model names the upstream that answered');
    const chi = chiSquare(observed, [0.6, 0.3, 0.1]);
    assert.ok(chi < CHI2_DF2_P1E6, `chi-square ${chi.toFixed(2)} for ${observed} (bound ${CHI2_DF2_P1E6})`);
  }),
);

test(
  'sticky sessions: every request of a session goes to one target; sessions spread over both',
  withLogs(async () => {
    const seen = new Map();
    for (let s = 0; s < 24; s++) {
      for (let i = 0; i < 4; i++) {
        const res = await chat(ctx.gw, 'prod/sticky', {
          headers: { 'x-sluice-metadata': JSON.stringify({ session_id: `conv-${s}` }) },
        });
        assert.equal(res.status, 200);
        const target = res.headers['x-sluice-resolved-model'];
        if (!seen.has(s)) seen.set(s, target);
        assert.equal(target, seen.get(s), `session conv-${s} request ${i}`);
      }
    }
    // 24 sessions at 50/50 all landing on one side: 2^-23.
    const onA = [...seen.values()].filter((t) => t === 'up-a/gpt-4o').length;
    assert.ok(onA > 0 && onA < 24, `sessions on a: ${onA} of 24`);
    // A session by header works the same; a request without one is not sticky.
    const first = await chat(ctx.gw, 'prod/sticky', { headers: { 'x-session-id': 'h-1' } });
    for (let i = 0; i < 5; i++) {
      const res = await chat(ctx.gw, 'prod/sticky', { headers: { 'x-session-id': 'h-1' } });
      assert.equal(res.headers['x-sluice-resolved-model'], first.headers['x-sluice-resolved-model']);
    }
  }),
);

test(
  'a pinned session follows its fallback when its target fails',
  withLogs(async () => {
    const md = { 'x-sluice-metadata': JSON.stringify({ session_id: 'moving' }) };
    const first = await chat(ctx.gw, 'prod/sticky', { headers: md });
    const pinned = first.headers['x-sluice-resolved-model'];
    const [failing, other] = pinned === 'up-a/gpt-4o' ? ['a', 'up-b/gpt-4o'] : ['b', 'up-a/gpt-4o'];
    ctx.ups[failing].once({
      status: 503,
      json: { error: { message: 'down', type: 'server_error', param: null, code: null } },
    });
    const moved = await chat(ctx.gw, 'prod/sticky', { headers: md });
    assert.equal(moved.headers['x-sluice-resolved-model'], other);
    // The session is pinned where it was answered.
    const after = await chat(ctx.gw, 'prod/sticky', { headers: md });
    assert.equal(after.headers['x-sluice-resolved-model'], other);
  }),
);

test(
  'latency: once both are measured, traffic moves to the target with the lower TPOT',
  withLogs(async () => {
    const { a, b } = ctx.ups;
    a.always({ tokens: { count: 6, gapMs: 60 } }); // ~60 ms per token
    b.always({ tokens: { count: 6, gapMs: 0 } });
    // Unmeasured targets share the traffic until each has 3 samples.
    await waitFor(
      async () => {
        const res = await chat(ctx.gw, 'prod/fastest', { stream: true });
        assert.equal(res.status, 200);
        return a.requests.length >= 3 && b.requests.length >= 3;
      },
      { timeoutMs: 30000, intervalMs: 0, what: 'three samples of each target' },
    );
    const fast = await targetReport(ctx.gw, 'fastest', 'up-b/gpt-4o-mini');
    const slow = await targetReport(ctx.gw, 'fastest', 'up-a/gpt-4o-mini');
    assert.ok(slow.tpot_ms > 1.2 * fast.tpot_ms, `TPOT a ${slow.tpot_ms} ms, b ${fast.tpot_ms} ms`);
    assert.ok(slow.tpot_samples >= 3 && fast.tpot_samples >= 3);
    const before = a.requests.length;
    for (let i = 0; i < 20; i++) {
      const res = await chat(ctx.gw, 'prod/fastest', { stream: true });
      assert.equal(res.headers['x-sluice-resolved-model'], 'up-b/gpt-4o-mini', `request ${i}`);
    }
    assert.equal(a.requests.length, before, 'the slow target got nothing more');
  }),
);

test(
  'priority: a target over its SLA cutoff is marked, its traffic moves, and it is restored',
  withLogs(async () => {
    const { b, c } = ctx.ups;
    c.always({ tokens: { count: 5, gapMs: 60 } }); // ~60 ms per token, cutoff 20
    let res = await chat(ctx.gw, 'prod/sla', { stream: true });
    assert.equal(res.headers['x-sluice-resolved-model'], 'up-c/gpt-4o-mini');
    let report = await targetReport(ctx.gw, 'sla', 'up-c/gpt-4o-mini');
    assert.equal(report.sla_cutoff.within, false, JSON.stringify(report));
    assert.equal(report.recent.window_seconds, 5);
    // Marked: the next target takes the traffic.
    for (let i = 0; i < 5; i++) {
      res = await chat(ctx.gw, 'prod/sla', { stream: true });
      assert.equal(res.headers['x-sluice-resolved-model'], 'up-b/gpt-4o');
    }
    assert.equal(c.requests.length, 1);
    // c recovers. Its slow sample leaves the 5-second window, c is tried
    // again, and fast answers keep it first.
    c.always({ tokens: { count: 5, gapMs: 0 } });
    await waitFor(
      async () => {
        const r = await chat(ctx.gw, 'prod/sla', { stream: true });
        return r.headers['x-sluice-resolved-model'] === 'up-c/gpt-4o-mini';
      },
      { timeoutMs: 20000, intervalMs: 200, what: 'the SLA mark to lapse' },
    );
    for (let i = 0; i < 5; i++) {
      res = await chat(ctx.gw, 'prod/sla', { stream: true });
      assert.equal(res.headers['x-sluice-resolved-model'], 'up-c/gpt-4o-mini');
    }
    report = await targetReport(ctx.gw, 'sla', 'up-c/gpt-4o-mini');
    assert.equal(report.sla_cutoff.within, true, JSON.stringify(report));
    assert.ok(b.requests.length >= 5);
  }),
);
