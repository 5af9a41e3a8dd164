// Circuit breaking: a target that fails twice is skipped for its cool-down,
// then tried by a single half-open probe that closes it (or opens it again);
// with every breaker open the gateway answers 503 with Retry-After; the state
// shows in GET /admin/targets and survives a manifest reload.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { test } from 'node:test';

import { waitFor, withLogs } from './lib/gateway.mjs';
import { assertApiError } from './lib/governance.mjs';
import { fixtureJson } from './lib/openai_upstream.mjs';
import { chat, pool, routingManifest, routingSuite, targetReport } from './lib/routing.mjs';

const ctx = routingSuite(['a', 'b', 'c', 'd', 'e'], (ups) => manifest(ups));

// A one-second cool-down for rule `quick`; `slow` keeps its breaker open far
// longer than any test here runs.
function manifest(ups, { extraRule = '' } = {}) {
  return routingManifest(ups, {
    virtualModels: ['prod/quick', 'prod/slow', 'prod/both'],
    routing: `  - id: quick
    when: {models: [prod/quick]}
    targets:
      - {target: up-a/gpt-4o, circuit_breaker: {failures: 2, window_seconds: 60, cooldown_seconds: 1}}
      - {target: up-b/gpt-4o, circuit_breaker: {failures: 0}}
  - id: slow
    when: {models: [prod/slow]}
    targets:
      - {target: up-c/gpt-4o, circuit_breaker: {failures: 2, window_seconds: 60, cooldown_seconds: 600}}
      - {target: up-b/gpt-4o, circuit_breaker: {failures: 0}}
  - id: both
    when: {models: [prod/both]}
    targets:
      - {target: up-d/gpt-4o, circuit_breaker: {failures: 2, cooldown_seconds: 600}}
      - {target: up-e/gpt-4o, circuit_breaker: {failures: 2, cooldown_seconds: 600}}
${extraRule}`,
  });
}

const OPENAI_503 = {
  status: 503,
  json: { error: { message: 'The server is overloaded.', type: 'server_error', param: null, code: null } },
};

async function waitForState(rule, target, state) {
  return waitFor(
    async () => {
      const t = await targetReport(ctx.gw, rule, target);
      return t.breaker.state === state ? t : null;
    },
    { timeoutMs: 10000, what: `${target} in rule ${rule} to be ${state}` },
  );
}

test(
  'two failures open the breaker; the target is skipped; a half-open probe closes it',
  withLogs(async () => {
    const { a, b } = ctx.ups;
    a.always(OPENAI_503);
    for (let i = 0; i < 2; i++) {
      const res = await chat(ctx.gw, 'prod/quick');
      assert.equal(res.status, 200);
      assert.equal(res.headers['x-sluice-attempts'], '2; up-a/gpt-4o=503');
    }
    let report = await targetReport(ctx.gw, 'quick', 'up-a/gpt-4o');
    assert.equal(report.breaker.state, 'open');
    assert.equal(report.breaker.recent_failures, 2);
    assert.ok(report.breaker.retry_in_ms > 0 && report.breaker.retry_in_ms <= 1000, JSON.stringify(report.breaker));
    assert.equal(report.recent.failures, 2);
    assert.equal(report.recent.error_rate, 1);
    // While open, requests go straight to b.
    const res = await chat(ctx.gw, 'prod/quick');
    assert.equal(res.headers['x-sluice-resolved-model'], 'up-b/gpt-4o');
    assert.equal(res.headers['x-sluice-attempts'], '1');
    assert.equal(a.requests.length, 2);

    // a recovers but answers slowly, so the probe is still out while other
    // requests arrive: exactly one of them may go to a.
    a.reset();
    a.always({ delayMs: 600, status: 200, json: fixtureJson('vercel-ai/openai-text.json') });
    await waitForState('quick', 'up-a/gpt-4o', 'half_open');
    const answers = await pool(6, 6, () => chat(ctx.gw, 'prod/quick'));
    const byTarget = answers.map((r) => r.headers['x-sluice-resolved-model']);
    assert.equal(byTarget.filter((t) => t === 'up-a/gpt-4o').length, 1, `one probe: ${byTarget}`);
    assert.equal(a.requests.length, 1);
    report = await waitForState('quick', 'up-a/gpt-4o', 'closed');
    assert.equal(report.breaker.recent_failures, 0);
    // Closed: a takes the traffic again.
    const again = await chat(ctx.gw, 'prod/quick');
    assert.equal(again.headers['x-sluice-resolved-model'], 'up-a/gpt-4o');
    assert.ok(b.requests.length >= 5);
  }),
);

test(
  "a client's TTFT deadline and its own bad requests never open a breaker",
  withLogs(async () => {
    const { a } = ctx.ups;
    const before = await targetReport(ctx.gw, 'quick', 'up-a/gpt-4o');
    a.always({ hangAfterHead: true });
    for (let i = 0; i < 3; i++) {
      const res = await chat(ctx.gw, 'prod/quick', { stream: true, headers: { 'x-sluice-ttft-timeout-ms': '150' } });
      assert.equal(res.headers['x-sluice-attempts'], '2; up-a/gpt-4o=ttft_timeout');
    }
    assert.equal(a.requests.length, 3);
    a.reset();
    a.always({ status: 400, json: { error: { message: 'bad', type: 'invalid_request_error', param: null, code: null } } });
    for (let i = 0; i < 3; i++) assert.equal((await chat(ctx.gw, 'prod/quick')).status, 400);
    const report = await targetReport(ctx.gw, 'quick', 'up-a/gpt-4o');
    assert.equal(report.breaker.state, 'closed');
    assert.equal(report.breaker.recent_failures, 0);
    assert.equal(report.recent.failures, before.recent.failures, 'no failure counted');
    assert.equal(report.recent.attempts, before.recent.attempts + 3, 'only the 400s are attempts');
    assert.equal(a.requests.length, 3);
  }),
);

test(
  'a failed probe opens the breaker for another cool-down',
  withLogs(async () => {
    const { a } = ctx.ups;
    a.always(OPENAI_503);
    await chat(ctx.gw, 'prod/quick');
    await chat(ctx.gw, 'prod/quick');
    await waitForState('quick', 'up-a/gpt-4o', 'half_open');
    const before = a.requests.length;
    const res = await chat(ctx.gw, 'prod/quick');
    assert.equal(res.status, 200);
    assert.equal(res.headers['x-sluice-attempts'], '2; up-a/gpt-4o=503', 'the probe failed, b answered');
    assert.equal(a.requests.length, before + 1);
    const report = await targetReport(ctx.gw, 'quick', 'up-a/gpt-4o');
    assert.equal(report.breaker.state, 'open');
    assert.ok(report.breaker.retry_in_ms > 0);
    // Let it close again for the tests after this one.
    a.reset();
    await waitForState('quick', 'up-a/gpt-4o', 'half_open');
    await chat(ctx.gw, 'prod/quick');
    await waitForState('quick', 'up-a/gpt-4o', 'closed');
  }),
);

test(
  'every breaker open: 503 no_healthy_target with Retry-After, nothing sent upstream',
  withLogs(async () => {
    const { d, e } = ctx.ups;
    d.always(OPENAI_503);
    e.always(OPENAI_503);
    for (let i = 0; i < 2; i++) {
      const res = await chat(ctx.gw, 'prod/both');
      assert.equal(res.status, 503);
      assert.equal(res.headers['x-sluice-attempts'], '2; up-d/gpt-4o=503; up-e/gpt-4o=503');
    }
    const res = await chat(ctx.gw, 'prod/both');
    assertApiError(res, 503, {
      type: 'upstream_error',
      code: 'no_healthy_target',
      message: "no target of routing rule 'both' is available: every circuit breaker is open",
    });
    const retryAfter = Number(res.headers['retry-after']);
    assert.ok(retryAfter >= 590 && retryAfter <= 600, `Retry-After ${res.headers['retry-after']}`);
    assert.equal(res.headers['x-sluice-applied-rules'], 'both');
    assert.equal(d.requests.length, 2);
    assert.equal(e.requests.length, 2);
  }),
);

test(
  'breakers and stats survive a reload for targets whose name stays',
  withLogs(async () => {
    const { c } = ctx.ups;
    c.always(OPENAI_503);
    await chat(ctx.gw, 'prod/slow');
    await chat(ctx.gw, 'prod/slow');
    const before = await targetReport(ctx.gw, 'slow', 'up-c/gpt-4o');
    assert.equal(before.breaker.state, 'open');
    const b = await targetReport(ctx.gw, 'slow', 'up-b/gpt-4o');
    assert.ok(b.answers >= 2);
    // The same targets, one more rule.
    writeFileSync(
      ctx.gw.manifestPath,
      manifest(ctx.ups, {
        extraRule: `  - id: added
    when: {models: [up-a/gpt-4o]}
    targets: [up-b/gpt-4o]
`,
      })
        .replaceAll('{{PORT}}', String(ctx.gw.port))
        .replaceAll('{{ADMIN_PORT}}', String(ctx.gw.adminPort)),
    );
    const logged = ctx.gw.output.split('manifest reloaded').length;
    ctx.gw.signal('SIGHUP');
    await waitFor(() => ctx.gw.output.split('manifest reloaded').length > logged, { what: 'the reload' });
    const after = await targetReport(ctx.gw, 'slow', 'up-c/gpt-4o');
    assert.equal(after.breaker.state, 'open', 'still open after the reload');
    assert.ok((await targetReport(ctx.gw, 'slow', 'up-b/gpt-4o')).answers >= b.answers);
    const res = await chat(ctx.gw, 'prod/slow');
    assert.equal(res.headers['x-sluice-attempts'], '1', 'c is still skipped');
    assert.equal(c.requests.length, 2);
    // The new rule is live and starts from b's shared stats.
    const direct = await chat(ctx.gw, 'up-a/gpt-4o');
    assert.equal(direct.headers['x-sluice-applied-rules'], 'added');
    assert.equal(direct.headers['x-sluice-resolved-model'], 'up-b/gpt-4o');
  }),
);
