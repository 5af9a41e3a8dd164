// Rate limits and budgets on one gateway (memory backend, two workers):
// request and token limits with their 429s and x-ratelimit-* headers,
// applies_per counters, `when` filters, settlement to the provider's usage,
// budgets that block, audit or downgrade, alert webhooks, streams (usage
// from the final chunk; a cancelled stream charged for what was produced)
// and x-sluice-applied-rules. Each test picks its rules with the `suite`
// metadata value and its own counters with `case`.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, test } from 'node:test';

import OpenAI from 'openai';

import { sleep, startGateway, waitFor, withLogs } from './lib/gateway.mjs';
import {
  DAY_MS,
  HOUR_MS,
  MINUTE_MS,
  adminLimits,
  assertApiError,
  assertRetryAfter,
  awaitWindowRoom,
  budgetEntry,
  budgetRule,
  chat,
  chatBody,
  credential,
  governanceManifest,
  headerBytes,
  mockPromptTokens,
  mockProvider,
  msUntilWindowEnd,
  parseReset,
  promptEstimate,
  rateCounter,
  rateRule,
  startWebhook,
  utcDay,
  utcMonth,
  waitForLimits,
} from './lib/governance.mjs';
import { parseChatStream } from './lib/http.mjs';

const alice = credential('alice');
const bob = credential('bob');

const REPLY = 'one two three four five'; // 5 completion tokens from the mock
const SLOW_WORDS = 40;
const SLOW_REPLY = Array.from({ length: SLOW_WORDS }, (_, i) => `w${String(i).padStart(2, '0')}`).join(' ');
const OUT_PRICE = 1000; // USD per million output tokens of priced/m: 5 words cost $0.005

function manifest(webhookUrl) {
  const suite = (name, extra = {}) => ({ ...extra, metadata: { suite: name, ...(extra.metadata || {}) } });
  return governanceManifest(
    {
      providers: [
        mockProvider('mock', ['small', 'big-1', 'big-2', { name: 'capped', max_output_tokens: 300 }], {
          reply: REPLY,
        }),
        mockProvider(
          'priced',
          [
            { name: 'm', pricing: { input_per_mtok: 0, output_per_mtok: OUT_PRICE } },
            { name: 'metered', pricing: { input_per_mtok: 1000, output_per_mtok: 2000 } },
          ],
          { reply: REPLY },
        ),
        mockProvider('cheap', ['m'], { reply: 'cheap answer' }),
        mockProvider('slow', ['s'], { reply: SLOW_REPLY, chunk_delay_ms: 150 }),
      ],
      auth: {
        teams: [
          { name: 'red', members: ['alice@example.com'] },
          { name: 'blue', members: ['bob@example.com'] },
        ],
        users: [
          { email: 'alice@example.com', token_sha256: alice.sha256, models: ['*'] },
          { email: 'bob@example.com', token_sha256: bob.sha256, models: ['*'] },
        ],
      },
      rate_limits: [
        { id: 'rpm', when: suite('rpm'), limit_to: 3, unit: 'requests_per_minute', applies_per: ['metadata.case'] },
        {
          id: 'pair',
          when: suite('pair'),
          limit_to: 2,
          unit: 'requests_per_hour',
          applies_per: ['metadata.project', 'metadata.env'],
        },
        {
          id: 'big-only',
          when: suite('when-model', { models: ['mock/big*'] }),
          limit_to: 1,
          unit: 'requests_per_hour',
        },
        { id: 'red-only', when: suite('when-team', { teams: ['red'] }), limit_to: 1, unit: 'requests_per_hour' },
        {
          id: 'bob-only',
          when: suite('when-subject', { subjects: ['user:bob@example.com'] }),
          limit_to: 1,
          unit: 'requests_per_hour',
        },
        { id: 'tok', when: suite('tokens'), limit_to: 10000, unit: 'tokens_per_hour', applies_per: ['metadata.case'] },
        { id: 'tok-wide', when: suite('tokens'), limit_to: 1000000, unit: 'tokens_per_day' },
        {
          id: 'stream-tok',
          when: suite('stream'),
          limit_to: 100000,
          unit: 'tokens_per_hour',
          applies_per: ['metadata.case'],
        },
        { id: 'applied-rpm', when: suite('applied'), limit_to: 1000, unit: 'requests_per_day' },
      ],
      budgets: [
        {
          id: 'b-block',
          when: suite('bblock'),
          limit_to: 0.02,
          unit: 'cost_per_month',
          applies_per: ['metadata.case'],
          on_exceed: 'block',
        },
        {
          id: 'b-audit',
          when: suite('baudit'),
          limit_to: 0.000001,
          unit: 'cost_per_day',
          applies_per: ['metadata.case'],
          on_exceed: 'audit',
        },
        {
          id: 'b-down',
          when: suite('bdown'),
          limit_to: 0.005,
          unit: 'cost_per_day',
          applies_per: ['metadata.case'],
          on_exceed: { downgrade_to: 'cheap/m' },
        },
        {
          id: 'b-alert',
          when: suite('alert'),
          limit_to: 0.01,
          unit: 'cost_per_month',
          applies_per: ['metadata.case'],
          on_exceed: 'audit',
          alerts: { thresholds: [50, 80, 100], webhook: webhookUrl },
        },
        { id: 'applied-budget', when: suite('applied'), limit_to: 100, unit: 'cost_per_day' },
      ],
    },
    { workers: 2 },
  );
}

let gw;
let webhook;
before(async () => {
  webhook = await startWebhook();
  gw = await startGateway(manifest(webhook.url));
});
after(async () => {
  const exit = await gw?.stop();
  await webhook?.close();
  if (exit) assert.deepEqual(exit, { code: 0, signal: null }, `exit of ${gw.dump()}`);
});

function client(token = alice.token, metadata) {
  const defaultHeaders = metadata ? { 'x-sluice-metadata': headerBytes(JSON.stringify(metadata)) } : {};
  return new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: token, maxRetries: 0, timeout: 20000, defaultHeaders });
}

function appliedRules(res) {
  const v = res.headers['x-sluice-applied-rules'];
  return v
    ? v
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '')
    : [];
}

const RATE_HEADERS = ['limit', 'remaining', 'reset'].flatMap((h) => [
  `x-ratelimit-${h}-requests`,
  `x-ratelimit-${h}-tokens`,
]);

function assertNoRateHeaders(res, what) {
  for (const h of RATE_HEADERS) assert.equal(res.headers[h], undefined, `${what}: no ${h}`);
}

// Checks the three x-ratelimit headers of one unit.
function assertRateHeaders(res, unit, { limit, remaining, windowMs }) {
  assert.equal(res.headers[`x-ratelimit-limit-${unit}`], String(limit), `x-ratelimit-limit-${unit}`);
  assert.equal(res.headers[`x-ratelimit-remaining-${unit}`], String(remaining), `x-ratelimit-remaining-${unit}`);
  const reset = parseReset(res.headers[`x-ratelimit-reset-${unit}`]);
  const left = msUntilWindowEnd(windowMs);
  assert.ok(reset <= windowMs && Math.abs(reset - left) <= 2000, `reset ${reset} ms vs ${left} ms left`);
}

test(
  'requests per minute: remaining counts down on 200s, then 429 rate_limit_exceeded with Retry-After',
  withLogs(async () => {
    await awaitWindowRoom(MINUTE_MS, 8000);
    const metadata = { suite: 'rpm', case: 'c1' };
    for (let i = 1; i <= 3; i++) {
      const res = await chat(gw, { model: 'mock/small', token: alice.token, metadata });
      assert.equal(res.status, 200, res.text);
      assertRateHeaders(res, 'requests', { limit: 3, remaining: 3 - i, windowMs: MINUTE_MS });
      assert.equal(res.headers['x-ratelimit-limit-tokens'], undefined, 'no token rule applies');
      assert.deepEqual(appliedRules(res), ['rpm']);
    }
    const sentAt = Date.now();
    const refused = await chat(gw, { model: 'mock/small', token: alice.token, metadata });
    const e = assertApiError(refused, 429, { type: 'rate_limit_error', code: 'rate_limit_exceeded', param: null });
    const m = /^rate limit 'rpm' exceeded: 3 requests per minute for metadata\.case=c1; retry in (\d+)s$/.exec(
      e.message,
    );
    assert.ok(m, `message: ${e.message}`);
    const windowEnd = sentAt - (sentAt % MINUTE_MS) + MINUTE_MS;
    const retryAfter = assertRetryAfter(refused, windowEnd, sentAt);
    assert.ok(retryAfter <= 60);
    assert.equal(Number(m[1]), retryAfter, 'the message and Retry-After agree');
    assertRateHeaders(refused, 'requests', { limit: 3, remaining: 0, windowMs: MINUTE_MS });

    await assert.rejects(
      client(alice.token, metadata).chat.completions.create({
        model: 'mock/small',
        messages: [{ role: 'user', content: 'again' }],
      }),
      (err) => {
        assert.ok(err instanceof OpenAI.RateLimitError, `RateLimitError, got ${err}`);
        assert.equal(err.status, 429);
        assert.equal(err.code, 'rate_limit_exceeded');
        assert.match(err.headers.get('retry-after') ?? '', /^\d+$/);
        return true;
      },
    );

    // Another key has its own counter.
    const other = await chat(gw, { model: 'mock/small', token: alice.token, metadata: { suite: 'rpm', case: 'c2' } });
    assert.equal(other.status, 200, other.text);
    assert.equal(other.headers['x-ratelimit-remaining-requests'], '2');

    const limits = await adminLimits(gw);
    const rule = rateRule(limits, 'rpm');
    assert.equal(rule.unit, 'requests_per_minute');
    assert.equal(rule.limit, 3);
    const c1 = rateCounter(limits, 'rpm', 'metadata.case=c1');
    assert.deepEqual({ used: c1?.used, remaining: c1?.remaining }, { used: 3, remaining: 0 }, JSON.stringify(rule));
    assert.ok(parseReset(c1.reset) <= MINUTE_MS);
    assert.equal(rateCounter(limits, 'rpm', 'metadata.case=c2')?.used, 1);
  }),
);

test(
  'applies_per with two keys: one counter per combination, a missing value counts as "-"',
  withLogs(async () => {
    await awaitWindowRoom(HOUR_MS, 15000);
    const send = (meta) => chat(gw, { model: 'mock/small', token: bob.token, metadata: { suite: 'pair', ...meta } });
    const plan = [
      [{ project: 'p1', env: 'a' }, 1],
      [{ project: 'p1', env: 'a' }, 0],
      [{ project: 'p1', env: 'b' }, 1],
      [{ project: 'p2', env: 'a' }, 1],
      [{ project: 'p1' }, 1],
      [{ project: 'p1' }, 0],
    ];
    for (const [meta, remaining] of plan) {
      const res = await send(meta);
      assert.equal(res.status, 200, `${JSON.stringify(meta)}: ${res.text}`);
      assertRateHeaders(res, 'requests', { limit: 2, remaining, windowMs: HOUR_MS });
    }
    for (const [meta, key] of [
      [{ project: 'p1', env: 'a' }, 'metadata.project=p1,metadata.env=a'],
      [{ project: 'p1' }, 'metadata.project=p1,metadata.env=-'],
    ]) {
      const sentAt = Date.now();
      const refused = await send(meta);
      const e = assertApiError(refused, 429, { type: 'rate_limit_error', code: 'rate_limit_exceeded', param: null });
      const m = new RegExp(`^rate limit 'pair' exceeded: 2 requests per hour for ${key}; retry in (\\d+)s$`).exec(
        e.message,
      );
      assert.ok(m, `message: ${e.message}`);
      const retryAfter = assertRetryAfter(refused, sentAt - (sentAt % HOUR_MS) + HOUR_MS, sentAt);
      assert.equal(Number(m[1]), retryAfter);
      assertRateHeaders(refused, 'requests', { limit: 2, remaining: 0, windowMs: HOUR_MS });
    }
    const counters = rateRule(await adminLimits(gw), 'pair').counters;
    assert.deepEqual(
      counters.map((c) => [c.key, c.used, c.remaining]).sort(),
      [
        ['metadata.project=p1,metadata.env=-', 2, 0],
        ['metadata.project=p1,metadata.env=a', 2, 0],
        ['metadata.project=p1,metadata.env=b', 1, 1],
        ['metadata.project=p2,metadata.env=a', 1, 1],
      ],
      JSON.stringify(counters),
    );
  }),
);

test(
  'when: a rule counts only the models, teams, subjects and metadata it names',
  withLogs(async () => {
    await awaitWindowRoom(HOUR_MS, 15000);
    const expectRefusal = (res, id) => {
      const e = assertApiError(res, 429, { type: 'rate_limit_error', code: 'rate_limit_exceeded', param: null });
      assert.match(e.message, new RegExp(`^rate limit '${id}' exceeded: 1 requests per hour\\b.*; retry in \\d+s$`));
    };
    // models: only mock/big* is counted.
    const model = { suite: 'when-model' };
    for (let i = 0; i < 3; i++) {
      const res = await chat(gw, { model: 'mock/small', token: alice.token, metadata: model });
      assert.equal(res.status, 200, res.text);
      assertNoRateHeaders(res, 'mock/small is not limited');
      assert.deepEqual(appliedRules(res), []);
    }
    const big1 = await chat(gw, { model: 'mock/big-1', token: alice.token, metadata: model });
    assert.equal(big1.status, 200, big1.text);
    assert.equal(big1.headers['x-ratelimit-remaining-requests'], '0');
    assert.deepEqual(appliedRules(big1), ['big-only']);
    expectRefusal(await chat(gw, { model: 'mock/big-2', token: alice.token, metadata: model }), 'big-only');

    // teams: alice is in red, bob in blue.
    const team = { suite: 'when-team' };
    for (let i = 0; i < 2; i++) {
      const res = await chat(gw, { model: 'mock/small', token: bob.token, metadata: team });
      assert.equal(res.status, 200, res.text);
      assertNoRateHeaders(res, 'team blue is not limited');
    }
    const red = await chat(gw, { model: 'mock/small', token: alice.token, metadata: team });
    assert.equal(red.status, 200, red.text);
    assert.deepEqual(appliedRules(red), ['red-only']);
    expectRefusal(await chat(gw, { model: 'mock/small', token: alice.token, metadata: team }), 'red-only');

    // subjects: only bob.
    const subject = { suite: 'when-subject' };
    for (let i = 0; i < 2; i++) {
      const res = await chat(gw, { model: 'mock/small', token: alice.token, metadata: subject });
      assert.equal(res.status, 200, res.text);
      assertNoRateHeaders(res, 'alice is not limited');
    }
    const b = await chat(gw, { model: 'mock/small', token: bob.token, metadata: subject });
    assert.equal(b.status, 200, b.text);
    assert.deepEqual(appliedRules(b), ['bob-only']);
    expectRefusal(await chat(gw, { model: 'mock/small', token: bob.token, metadata: subject }), 'bob-only');

    // metadata: without a matching `suite` value no rule applies at all.
    for (const metadata of [undefined, { suite: 'nothing' }, { suite: 'WHEN-TEAM' }]) {
      const res = await chat(gw, { model: 'mock/big-1', token: alice.token, metadata });
      assert.equal(res.status, 200, res.text);
      assertNoRateHeaders(res, `metadata ${JSON.stringify(metadata)}`);
      assert.deepEqual(appliedRules(res), []);
    }
  }),
);

test(
  'token limits: reserve ceil(body bytes / 4) + max_tokens, settle to prompt + completion tokens',
  withLogs(async () => {
    await awaitWindowRoom(HOUR_MS, 15000);
    const LIMIT = 10000;
    const metadata = { suite: 'tokens', case: 't1' };
    const key = 'metadata.case=t1';
    let settled = 0; // tokens of case t1 after settlement
    let allSettled = 0; // of every request of this test (the tok-wide rule)

    // Each request: [model, content, body extras, the reservation's max_tokens]
    const steps = [
      ['mock/small', 'How many tokens is this prompt?', { max_tokens: 50 }, 50],
      [
        'mock/small',
        'A longer question, to make the prompt estimate differ a little.',
        { max_completion_tokens: 100 },
        100,
      ],
      ['mock/capped', 'No max_tokens: the model max_output_tokens (300) counts.', {}, 300],
      ['mock/small', 'No max_tokens and no model limit: 4096 counts.', {}, 4096],
    ];
    for (const [model, content, extra, maxTokens] of steps) {
      const res = await chat(gw, { model, content, extra, token: alice.token, metadata });
      assert.equal(res.status, 200, res.text);
      const reserved = promptEstimate(res.sentBody) + maxTokens;
      assertRateHeaders(res, 'tokens', { limit: LIMIT, remaining: LIMIT - settled - reserved, windowMs: HOUR_MS });
      assert.equal(res.headers['x-ratelimit-limit-requests'], undefined, 'no request rule applies');
      assert.deepEqual(appliedRules(res).sort(), ['tok', 'tok-wide']);
      const { usage } = res.json;
      assert.equal(usage.prompt_tokens, mockPromptTokens([content]));
      assert.equal(usage.completion_tokens, 5);
      settled += usage.prompt_tokens + usage.completion_tokens;
      allSettled += usage.prompt_tokens + usage.completion_tokens;
      await waitForLimits(
        gw,
        (l) => rateCounter(l, 'tok', key),
        (c) => c.used === settled,
        { what: `tok ${key} settled to ${settled}` },
      );
    }
    const counter = rateCounter(await adminLimits(gw), 'tok', key);
    assert.equal(counter.remaining, LIMIT - settled);

    // Over the limit: a reservation that does not fit is refused.
    const fits = await chat(gw, {
      model: 'mock/small',
      token: alice.token,
      metadata: { suite: 'tokens', case: 't3' },
      extra: { max_tokens: 9000 },
    });
    assert.equal(fits.status, 200, fits.text);
    const used3 = fits.json.usage.prompt_tokens + fits.json.usage.completion_tokens;
    allSettled += used3;
    await waitForLimits(
      gw,
      (l) => rateCounter(l, 'tok', 'metadata.case=t3'),
      (c) => c.used === used3,
    );
    // A reservation that alone fits the limit exactly, so only what t3 used refuses it.
    const maxTokens = LIMIT - promptEstimate(chatBody('mock/small', 'Hello there', { max_tokens: 9999 }));
    assert.equal(promptEstimate(chatBody('mock/small', 'Hello there', { max_tokens: maxTokens })) + maxTokens, LIMIT);
    const sentAt = Date.now();
    const refused = await chat(gw, {
      model: 'mock/small',
      token: alice.token,
      metadata: { suite: 'tokens', case: 't3' },
      extra: { max_tokens: maxTokens },
    });
    const e = assertApiError(refused, 429, { type: 'rate_limit_error', code: 'rate_limit_exceeded', param: null });
    const m = /^rate limit 'tok' exceeded: 10000 tokens per hour for metadata\.case=t3; retry in (\d+)s$/.exec(
      e.message,
    );
    assert.ok(m, `message: ${e.message}`);
    assert.equal(Number(m[1]), assertRetryAfter(refused, sentAt - (sentAt % HOUR_MS) + HOUR_MS, sentAt));
    // Remaining is what is left for a smaller request: the refused one reserved nothing.
    assertRateHeaders(refused, 'tokens', { limit: LIMIT, remaining: LIMIT - used3, windowMs: HOUR_MS });

    // The refused request reserved nothing; the wide rule saw every settled token.
    const limits = await adminLimits(gw);
    assert.equal(rateCounter(limits, 'tok', 'metadata.case=t3').used, used3);
    const wide = rateRule(limits, 'tok-wide').counters;
    assert.equal(wide.length, 1, JSON.stringify(wide));
    assert.equal(wide[0].used, allSettled);
    assert.equal(wide[0].remaining, 1000000 - allSettled);
    assert.ok(parseReset(wide[0].reset) <= DAY_MS);
  }),
);

test(
  'budget on_exceed block: admitted while spent + worst case fits, then 429 budget_exceeded until the month ends',
  withLogs(async () => {
    const metadata = { suite: 'bblock', case: 'bb1' };
    const extra = { max_tokens: 5 }; // worst case 5 x $0.001 = $0.005, as much as the real cost
    for (let i = 0; i < 4; i++) {
      const res = await chat(gw, { model: 'priced/m', token: alice.token, metadata, extra });
      assert.equal(res.status, 200, `request ${i + 1}: ${res.text}`);
      assert.deepEqual(appliedRules(res), ['b-block']);
      const spent = 0.005 * (i + 1);
      await waitForLimits(
        gw,
        (l) => budgetEntry(l, 'b-block', 'metadata.case=bb1'),
        (entry) => Math.abs(entry.spent - spent) < 1e-9 && entry.reserved === 0,
        { what: `b-block spent ${spent}` },
      );
    }
    const sentAt = Date.now();
    const refused = await chat(gw, { model: 'priced/m', token: alice.token, metadata, extra });
    const e = assertApiError(refused, 429, { code: 'budget_exceeded' });
    assert.match(e.message, /^budget 'b-block' exceeded/);
    assertRetryAfter(refused, utcMonth().end, sentAt);
    await assert.rejects(
      client(alice.token, metadata).chat.completions.create({
        model: 'priced/m',
        max_tokens: 1,
        messages: [{ role: 'user', content: 'one more' }],
      }),
      (err) => {
        assert.ok(err instanceof OpenAI.RateLimitError, `RateLimitError, got ${err}`);
        assert.equal(err.code, 'budget_exceeded');
        return true;
      },
    );
    // Another key of the same budget is unaffected.
    const other = await chat(gw, {
      model: 'priced/m',
      token: alice.token,
      metadata: { ...metadata, case: 'bb2' },
      extra,
    });
    assert.equal(other.status, 200, other.text);

    const limits = await adminLimits(gw);
    const rule = budgetRule(limits, 'b-block');
    const month = utcMonth();
    assert.equal(rule.unit, 'cost_per_month');
    assert.equal(rule.limit, 0.02);
    assert.equal(rule.period_start, month.startIso);
    assert.equal(rule.period_end, month.endIso);
    const entry = budgetEntry(limits, 'b-block', 'metadata.case=bb1');
    assert.ok(Math.abs(entry.spent - 0.02) < 1e-9, JSON.stringify(entry));
    assert.equal(entry.reserved, 0);
    assert.ok(Math.abs(entry.remaining) < 1e-9, JSON.stringify(entry));
  }),
);

test(
  'budget on_exceed audit: over the limit and still allowed, charged at the model pricing',
  withLogs(async () => {
    const metadata = { suite: 'baudit', case: 'ba1' };
    let cost = 0;
    for (const content of ['first question', 'a second, somewhat longer question', 'third']) {
      const res = await chat(gw, { model: 'priced/metered', content, token: alice.token, metadata });
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(appliedRules(res), ['b-audit']);
      const { prompt_tokens: p, completion_tokens: c } = res.json.usage;
      cost += (p * 1000 + c * 2000) / 1e6;
    }
    const entry = await waitForLimits(
      gw,
      (l) => budgetEntry(l, 'b-audit', 'metadata.case=ba1'),
      (e) => Math.abs(e.spent - cost) < 1e-9,
      { what: `b-audit spent ${cost}` },
    );
    assert.equal(entry.reserved, 0);
    assert.equal(entry.remaining, 0);
    const rule = budgetRule(await adminLimits(gw), 'b-audit');
    assert.equal(rule.unit, 'cost_per_day');
    assert.equal(rule.period_start, utcDay().startIso);
    assert.equal(rule.period_end, utcDay().endIso);
  }),
);

test(
  'budget on_exceed downgrade: the request goes to the cheaper model, x-sluice-resolved-model says so',
  withLogs(async () => {
    const metadata = { suite: 'bdown', case: 'bd1' };
    const extra = { max_tokens: 5 };
    const first = await chat(gw, { model: 'priced/m', token: alice.token, metadata, extra });
    assert.equal(first.status, 200, first.text);
    assert.equal(first.headers['x-sluice-resolved-model'], 'priced/m');
    assert.equal(first.json.choices[0].message.content, REPLY);
    await waitForLimits(
      gw,
      (l) => budgetEntry(l, 'b-down', 'metadata.case=bd1'),
      (e) => Math.abs(e.spent - 0.005) < 1e-9 && e.reserved === 0,
    );
    for (let i = 0; i < 2; i++) {
      const res = await chat(gw, { model: 'priced/m', token: alice.token, metadata, extra });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.headers['x-sluice-resolved-model'], 'cheap/m');
      assert.equal(res.headers['x-sluice-provider'], 'cheap');
      assert.equal(res.json.choices[0].message.content, 'cheap answer');
      assert.ok(appliedRules(res).includes('b-down'), res.headers['x-sluice-applied-rules']);
    }
    // The cheap model has no pricing: the spend stays where it was.
    const entry = budgetEntry(await adminLimits(gw), 'b-down', 'metadata.case=bd1');
    assert.ok(Math.abs(entry.spent - 0.005) < 1e-9, JSON.stringify(entry));
    assert.equal(entry.reserved, 0);
  }),
);

test(
  'budget alerts: one webhook POST per threshold crossed, none repeated',
  withLogs(async () => {
    const metadata = { suite: 'alert', case: 'al1' };
    const extra = { max_tokens: 5 }; // $0.005 per request; the limit is $0.01
    const send = async () => {
      const res = await chat(gw, { model: 'priced/m', token: alice.token, metadata, extra });
      assert.equal(res.status, 200, res.text);
    };
    const month = utcMonth();
    const expected = (threshold, spent) => ({
      type: 'budget_threshold',
      budget: 'b-alert',
      key: 'metadata.case=al1',
      threshold_percent: threshold,
      spent,
      limit: 0.01,
      unit: 'cost_per_month',
      period_start: month.startIso,
      period_end: month.endIso,
    });
    const waitPosts = (n) => waitFor(() => webhook.posts.length >= n, { timeoutMs: 5000, what: `${n} webhook POSTs` });

    await send(); // $0.005: 50 %
    await waitPosts(1);
    await send(); // $0.010: 80 % and 100 %
    await waitPosts(3);
    await send(); // $0.015 and $0.020: past every threshold already crossed
    await send();
    await waitForLimits(
      gw,
      (l) => budgetEntry(l, 'b-alert', 'metadata.case=al1'),
      (e) => Math.abs(e.spent - 0.02) < 1e-9,
    );
    await sleep(300); // a late duplicate would arrive within this
    assert.equal(webhook.posts.length, 3, JSON.stringify(webhook.posts.map((p) => p.json)));
    for (const p of webhook.posts) {
      assert.equal(p.method, 'POST');
      assert.equal(p.path, '/alerts');
      assert.match(p.headers['content-type'] ?? '', /^application\/json/);
      assert.ok(p.json, `JSON body: ${p.text}`);
    }
    const bodies = webhook.posts.map((p) => p.json).sort((a, b) => a.threshold_percent - b.threshold_percent);
    assert.deepEqual(bodies, [expected(50, 0.005), expected(80, 0.01), expected(100, 0.01)]);
  }),
);

test(
  'streams: usage from the final chunk is charged, with or without the client asking for it',
  withLogs(async () => {
    const sdkClient = (c) => client(alice.token, { suite: 'stream', case: c });
    const content = 'Stream me a short answer, please.';
    const s1 = await sdkClient('s1').chat.completions.create({
      model: 'mock/small',
      messages: [{ role: 'user', content }],
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = [];
    for await (const c of s1) chunks.push(c);
    const usage = chunks[chunks.length - 1].usage;
    assert.ok(usage, 'the client asked for usage and got it');
    const total = usage.prompt_tokens + usage.completion_tokens;
    await waitForLimits(
      gw,
      (l) => rateCounter(l, 'stream-tok', 'metadata.case=s1'),
      (c) => c.used === total,
      {
        what: `stream-tok s1 settled to ${total}`,
      },
    );

    const s2 = await sdkClient('s2').chat.completions.create({
      model: 'mock/small',
      messages: [{ role: 'user', content }],
      stream: true,
    });
    const chunks2 = [];
    for await (const c of s2) chunks2.push(c);
    assert.ok(
      chunks2.every((c) => !c.usage),
      'no usage chunk for a client that did not ask',
    );
    const expected = mockPromptTokens([content]) + 5;
    await waitForLimits(
      gw,
      (l) => rateCounter(l, 'stream-tok', 'metadata.case=s2'),
      (c) => c.used === expected,
      {
        what: `stream-tok s2 settled to ${expected}`,
      },
    );
  }),
);

// Reads a chat stream until `contentChunks` content deltas arrived, then
// closes the connection. Resolves the response headers and the text read.
function readThenCancel(url, body, headers, contentChunks) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, {
      method: 'POST',
      agent: false,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers },
    });
    const timer = setTimeout(() => req.destroy(new Error('no stream within 15 s')), 15000);
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => {
        text += d;
        const { chunks } = parseChatStream(text.slice(0, text.lastIndexOf('\n\n') + 2));
        const seen = chunks.filter((c) => c.choices?.[0]?.delta?.content).length;
        if (seen >= contentChunks) {
          clearTimeout(timer);
          res.destroy();
          req.destroy();
          resolve({ status: res.statusCode, headers: res.headers, text });
        }
      });
      res.on('end', () => {
        clearTimeout(timer);
        reject(new Error(`the stream ended before ${contentChunks} content chunks: ${text}`));
      });
    });
    req.end(body);
  });
}

test(
  'streams: a slow stream the client cancels is charged for the tokens produced so far',
  withLogs(async () => {
    await awaitWindowRoom(HOUR_MS, 15000);
    const content = 'Tell me a long story.';
    const body = chatBody('slow/s', content, { stream: true, max_tokens: 1000 });
    const headers = {
      authorization: `Bearer ${alice.token}`,
      'x-sluice-metadata': JSON.stringify({ suite: 'stream', case: 's3' }),
    };
    const started = Date.now();
    const res = await readThenCancel(`${gw.url}/v1/chat/completions`, body, headers, 3);
    assert.equal(res.status, 200, res.text);
    assert.match(res.headers['content-type'] ?? '', /^text\/event-stream/);
    assert.equal(res.headers['x-ratelimit-remaining-tokens'], String(100000 - (promptEstimate(body) + 1000)));
    assert.ok(Date.now() - started < SLOW_WORDS * 150, 'cancelled well before the stream could end');

    // Everything: the prompt and all 40 words. The reservation is larger.
    const full = mockPromptTokens([content]) + SLOW_WORDS;
    const counter = await waitForLimits(
      gw,
      (l) => rateCounter(l, 'stream-tok', 'metadata.case=s3'),
      (c) => c.used < full,
      { what: 'the cancelled stream settled', timeoutMs: 10000 },
    );
    assert.ok(counter.used > 0, `charged something: ${JSON.stringify(counter)}`);
    // It stays there: the upstream was stopped, nothing more is charged.
    await sleep(600);
    const again = rateCounter(await adminLimits(gw), 'stream-tok', 'metadata.case=s3');
    assert.equal(again.used, counter.used);
    const ok = await chat(gw, { model: 'mock/small', token: alice.token });
    assert.equal(ok.status, 200, 'the gateway still serves');
  }),
);

test(
  'x-sluice-applied-rules lists every rate-limit and budget rule that applied, and only those',
  withLogs(async () => {
    const res = await chat(gw, { model: 'priced/m', token: bob.token, metadata: { suite: 'applied' } });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(appliedRules(res).sort(), ['applied-budget', 'applied-rpm']);
    assert.equal(res.headers['x-ratelimit-limit-requests'], '1000');
    const plain = await chat(gw, { model: 'priced/m', token: bob.token });
    assert.equal(plain.status, 200, plain.text);
    assert.deepEqual(appliedRules(plain), []);
    assertNoRateHeaders(plain, 'no rule applied');
  }),
);
