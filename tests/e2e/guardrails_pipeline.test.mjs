// The guardrail pipeline end to end: hooks (llm_input, llm_output,
// mcp_pre_tool, mcp_post_tool) x operations (validate, mutate) x modes
// (audit, enforce, strict), answers now, later, early and never (timeouts),
// the X-Sluice-Guardrails header, and output guardrails holding on streams.
// The guardrails are tests/fixtures/test_guard.c, scripted by the manifest;
// each test picks its guardrails through a rule on metadata.scenario.
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';

import { BUILD_DIR, openaiManifest, waitFor, withLogs } from './lib/gateway.mjs';
import { parseChatStream, postJson } from './lib/http.mjs';
import { gatewaySuite } from './lib/suite.mjs';

const TEST_GUARD = path.join(BUILD_DIR, 'fixtures', 'test_guard.so');

// name: [operation, mode, config, extra keys]
const GUARDS = {
  blocker: ['validate', 'enforce', {}],
  'audit-blocker': ['validate', 'audit', {}],
  redactor: ['mutate', 'enforce', { action: 'mutate' }],
  'audit-redactor': ['mutate', 'audit', { action: 'mutate' }],
  'failer-enforce': ['validate', 'enforce', { action: 'fail' }],
  'failer-strict': ['validate', 'strict', { action: 'fail' }],
  'hanger-enforce': ['validate', 'enforce', { action: 'hang' }, 'timeout_ms: 150'],
  'hanger-strict': ['validate', 'strict', { action: 'hang' }, 'timeout_ms: 150'],
  'late-blocker': ['validate', 'enforce', { delay_ms: 40, label: 'late-blocker' }],
  'early-blocker': ['validate', 'enforce', { early: true }],
  'slow-passer': ['validate', 'enforce', { action: 'pass', delay_ms: 2000, label: 'slow-passer' }],
  'alpha-to-beta': ['mutate', 'enforce', { action: 'mutate', word: 'alpha', replacement: 'beta' }, 'priority: 2'],
  'beta-to-gamma': ['mutate', 'enforce', { action: 'mutate', word: 'beta', replacement: 'gamma' }, 'priority: 1'],
  'stream-redactor': ['mutate', 'enforce', { action: 'mutate', hold: true, delay_ms: 5, label: 'stream-redactor' }],
  'stream-blocker': ['validate', 'enforce', { hold: true }],
  'tool-redactor': ['mutate', 'enforce', { action: 'mutate', word: 'secret-arg' }],
  'tool-blocker': ['validate', 'enforce', { word: 'rm -rf' }],
  'city-redactor': ['mutate', 'enforce', { action: 'mutate', word: 'Edinburgh' }],
  'ticker-blocker': ['validate', 'enforce', { word: 'AAPL', delay_ms: 5 }],
};

// scenario: {hook: [guardrail names]}
const RULES = {
  'in-block': { llm_input: ['blocker'] },
  'in-mutate': { llm_input: ['redactor'] },
  'in-audit': { llm_input: ['audit-blocker', 'audit-redactor'] },
  'fail-enforce': { llm_input: ['failer-enforce'] },
  'fail-strict': { llm_input: ['failer-strict'] },
  'timeout-enforce': { llm_input: ['hanger-enforce'] },
  'timeout-strict': { llm_input: ['hanger-strict'] },
  late: { llm_input: ['late-blocker'] },
  early: { llm_input: ['early-blocker'] },
  parallel: { llm_input: ['slow-passer', 'late-blocker'] },
  sequence: { llm_input: ['alpha-to-beta', 'beta-to-gamma'] },
  'out-mutate': { llm_output: ['redactor'] },
  'out-block': { llm_output: ['blocker'] },
  'stream-mutate': { llm_output: ['stream-redactor'] },
  'stream-block': { llm_output: ['stream-blocker'] },
  'tool-post': { mcp_post_tool: ['tool-blocker'] },
  'tool-pre': { mcp_pre_tool: ['tool-redactor'] },
  'tool-pre-stream': { mcp_pre_tool: ['city-redactor'] },
  'tool-block-stream': { mcp_pre_tool: ['ticker-blocker'] },
};

function yamlConfig(cfg) {
  return `{${Object.entries(cfg)
    .map(([k, v]) => `${k}: ${JSON.stringify(v)}`)
    .join(', ')}}`;
}

function guardrailsYaml() {
  let out = `plugins:\n  - {path: "${TEST_GUARD}"}\nguardrails:\n`;
  for (const [name, [operation, mode, cfg, extra]] of Object.entries(GUARDS)) {
    out += `  - {name: ${name}, plugin: test-guard, operation: ${operation}, mode: ${mode}${
      extra ? `, ${extra}` : ''
    }, config: ${yamlConfig({ label: name, ...cfg })}}\n`;
  }
  out += 'guardrail_rules:\n';
  for (const [scenario, hooks] of Object.entries(RULES)) {
    out += `  - id: ${scenario}-rule\n    when: {metadata: {scenario: ${scenario}}}\n`;
    for (const [hook, names] of Object.entries(hooks)) out += `    ${hook}: [${names.join(', ')}]\n`;
  }
  return out;
}

const ctx = gatewaySuite((up) => openaiManifest(up.url, { top: guardrailsYaml() }));

function chat(scenario, messages, { headers = {}, stream = false, extra = {} } = {}) {
  return postJson(
    `${ctx.gw.url}/v1/chat/completions`,
    { model: 'up/gpt-4o', messages, ...(stream ? { stream: true } : {}), ...extra },
    {
      headers: {
        'x-sluice-metadata': JSON.stringify({ scenario }),
        ...headers,
      },
    },
  );
}

const user = (content) => [{ role: 'user', content }];

function assertBlocked(r, guardrail, reason) {
  assert.equal(r.status, 400, r.text);
  assert.equal(r.json.error.code, 'guardrail_blocked');
  assert.equal(r.json.error.type, 'invalid_request_error');
  assert.match(r.json.error.message, new RegExp(`guardrail '${guardrail}' blocked this request: `));
  assert.match(r.json.error.message, reason);
}

// A recorded-shape completion whose message says `content`.
function completion(content, toolCalls) {
  const message = { role: 'assistant', content };
  if (toolCalls) message.tool_calls = toolCalls;
  return {
    id: 'chatcmpl-guard',
    object: 'chat.completion',
    created: 1727346168,
    model: 'gpt-4o-2024-08-06',
    choices: [{ index: 0, message, logprobs: null, finish_reason: toolCalls ? 'tool_calls' : 'stop' }],
    usage: { prompt_tokens: 12, completion_tokens: 9, total_tokens: 21 },
  };
}

// An SSE stream whose content arrives in `pieces`.
function sse(pieces) {
  const base = { id: 'chatcmpl-s', object: 'chat.completion.chunk', created: 1727346168, model: 'gpt-4o-2024-08-06' };
  const events = [{ ...base, choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }] }];
  for (const p of pieces) events.push({ ...base, choices: [{ index: 0, delta: { content: p }, finish_reason: null }] });
  events.push({ ...base, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] });
  events.push({ ...base, choices: [], usage: { prompt_tokens: 5, completion_tokens: pieces.length, total_tokens: 5 + pieces.length } });
  return Buffer.from(events.map((e) => `data: ${JSON.stringify(e)}\n\n`).join('') + 'data: [DONE]\n\n');
}

const deltas = (chunks) => chunks.map((c) => c.choices?.[0]?.delta?.content ?? '').filter((s) => s !== '');

test(
  'llm_input validate (enforce): a finding blocks with 400 guardrail_blocked; nothing goes upstream',
  withLogs(async () => {
    const r = await chat('in-block', user('this is forbidden talk'));
    assertBlocked(r, 'blocker', /found 1 forbidden word/);
    assert.equal(r.headers['x-sluice-applied-rules'], 'in-block-rule');
    assert.equal(ctx.up.requests.length, 0);
    const clean = await chat('in-block', user('this is fine'));
    assert.equal(clean.status, 200, clean.text);
    assert.match(clean.headers['server-timing'], /guard_in;dur=\d+\.\d{3}/);
  }),
);

test(
  'llm_input mutate: the upstream gets the rewritten messages, the rest of the body untouched',
  withLogs(async () => {
    const messages = [
      { role: 'system', content: 'forbidden rules' },
      { role: 'user', content: [{ type: 'text', text: 'say forbidden twice: forbidden' }] },
    ];
    const r = await chat('in-mutate', messages, { extra: { temperature: 0.3, user: 'u-forbidden' } });
    assert.equal(r.status, 200, r.text);
    const sent = ctx.up.last().body;
    assert.equal(sent.messages[0].content, '[REDACTED] rules');
    assert.equal(sent.messages[1].content[0].text, 'say [REDACTED] twice: [REDACTED]');
    assert.equal(sent.temperature, 0.3);
    assert.equal(sent.user, 'u-forbidden', 'fields that are not message text are not guardrail input');
  }),
);

test(
  'audit mode: findings are recorded, the request passes unchanged',
  withLogs(async () => {
    const r = await chat('in-audit', user('forbidden but audited'));
    assert.equal(r.status, 200, r.text);
    assert.equal(ctx.up.last().body.messages[0].content, 'forbidden but audited');
  }),
);

test(
  'a failing guardrail: enforce lets the request through, strict blocks naming the failure',
  withLogs(async () => {
    const through = await chat('fail-enforce', user('forbidden'));
    assert.equal(through.status, 200, through.text);
    await waitFor(() => /'failer-enforce' failed \(scripted failure\): enforce mode lets it through/.test(ctx.gw.output), {
      what: 'the failure log line',
    });
    const blocked = await chat('fail-strict', user('forbidden'));
    assertBlocked(blocked, 'failer-strict', /the guardrail failed: scripted failure/);
  }),
);

test(
  'a guardrail that never answers times out: enforce passes, strict blocks',
  withLogs(async () => {
    const through = await chat('timeout-enforce', user('forbidden'));
    assert.equal(through.status, 200, through.text);
    const blocked = await chat('timeout-strict', user('forbidden'));
    assertBlocked(blocked, 'hanger-strict', /the guardrail failed: no answer within 150 ms/);
    assert.equal(ctx.up.requests.length, 1);
  }),
);

test(
  'answers that come later, and answers given before check() returns, are both honoured',
  withLogs(async () => {
    assertBlocked(await chat('late', user('forbidden')), 'late-blocker', /found 1/);
    assertBlocked(await chat('early', user('forbidden')), 'early-blocker', /found 1/);
    const pass = await chat('late', user('fine'));
    assert.equal(pass.status, 200, pass.text);
  }),
);

test(
  'validations run in parallel: the first block wins and the slower check is cancelled',
  withLogs(async () => {
    const started = Date.now();
    const r = await chat('parallel', user('forbidden'));
    assertBlocked(r, 'late-blocker', /found 1/);
    assert.ok(Date.now() - started < 1500, 'the block did not wait for the 2 s check');
    await waitFor(() => ctx.gw.output.includes('slow-passer check cancelled'), { what: 'the cancel' });
  }),
);

test(
  'mutations run in sequence by priority (lowest first)',
  withLogs(async () => {
    // beta-to-gamma (priority 1) sees no "beta" yet; alpha-to-beta (2) then writes one.
    const r = await chat('sequence', user('alpha'));
    assert.equal(r.status, 200, r.text);
    assert.equal(ctx.up.last().body.messages[0].content, 'beta');
  }),
);

test(
  'llm_output on a whole answer: mutate rewrites the message, validate blocks',
  withLogs(async () => {
    ctx.up.once({ status: 200, json: completion('the answer is forbidden, truly forbidden') });
    const r = await chat('out-mutate', user('hi'));
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.choices[0].message.content, 'the answer is [REDACTED], truly [REDACTED]');
    assert.deepEqual(r.json.usage, { prompt_tokens: 12, completion_tokens: 9, total_tokens: 21 });
    assert.match(r.headers['server-timing'], /guard_out;dur=/);

    ctx.up.once({ status: 200, json: completion('forbidden') });
    assertBlocked(await chat('out-block', user('hi')), 'blocker', /found 1/);
  }),
);

test(
  'llm_output on a stream: a word split across chunks is redacted before any of it is sent',
  withLogs(async () => {
    ctx.up.once({ sse: sse(['The word is for', 'bid', 'den and ', 'forbi', 'dden again.']), writes: 6, gapMs: 10 });
    const r = await chat('stream-mutate', user('hi'), { stream: true });
    assert.equal(r.status, 200, r.text);
    const { chunks, done } = parseChatStream(r.text);
    assert.ok(done, 'the stream ends with [DONE]');
    const parts = deltas(chunks);
    assert.equal(parts.join(''), 'The word is [REDACTED] and [REDACTED] again.');
    for (const p of parts) assert.ok(!/forb|bidd|idden/.test(p), `a piece of the word leaked: ${JSON.stringify(p)}`);
    const finish = chunks.findIndex((c) => c.choices?.[0]?.finish_reason === 'stop');
    const lastText = chunks.findLastIndex((c) => (c.choices?.[0]?.delta?.content ?? '') !== '');
    assert.ok(finish > lastText, 'the finish reason comes after all the text');
  }),
);

test(
  'llm_output on a stream: a block ends the stream with a guardrail_blocked error event',
  withLogs(async () => {
    ctx.up.once({ sse: sse(['all is well, ', 'until the forbi', 'dden part']), writes: 4, gapMs: 10 });
    const r = await chat('stream-block', user('hi'), { stream: true });
    assert.equal(r.status, 200, r.text);
    const { chunks, done } = parseChatStream(r.text);
    assert.ok(!done, 'no [DONE] after a block');
    const last = chunks[chunks.length - 1];
    assert.equal(last.error.code, 'guardrail_blocked');
    assert.match(last.error.message, /guardrail 'stream-blocker' blocked this request/);
    assert.ok(!deltas(chunks).join('').includes('forbi'), 'nothing of the blocked text went out');
  }),
);

test(
  'mcp_post_tool checks tool results; mcp_pre_tool checks and rewrites tool-call arguments',
  withLogs(async () => {
    const withResult = [
      { role: 'user', content: 'clean up' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'sh', arguments: '{}' } }] },
      { role: 'tool', tool_call_id: 'c1', content: 'ran rm -rf /tmp/x' },
    ];
    assertBlocked(await chat('tool-post', withResult), 'tool-blocker', /found 1/);
    const plain = await chat('tool-post', user('rm -rf is only text here'));
    assert.equal(plain.status, 200, 'mcp_post_tool looks at tool results only');

    const calls = [{ id: 'c2', type: 'function', function: { name: 'lookup', arguments: '{"q":"secret-arg"}' } }];
    ctx.up.once({ status: 200, json: completion(null, calls) });
    const r = await chat('tool-pre', user('look it up'));
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.choices[0].message.tool_calls[0].function.arguments, '{"q":"[REDACTED]"}');
  }),
);

test(
  'mcp_pre_tool on a stream: tool calls are gathered, checked and sent whole before the finish',
  withLogs(async () => {
    ctx.up.once({ sse: 'tools', writes: 5, gapMs: 5 });
    const r = await chat('tool-pre-stream', user('weather and a quote'), { stream: true });
    assert.equal(r.status, 200, r.text);
    const { chunks, done } = parseChatStream(r.text);
    assert.ok(done);
    const withCalls = chunks.filter((c) => c.choices?.[0]?.delta?.tool_calls);
    assert.equal(withCalls.length, 1, 'the calls go out as one delta, after the check');
    const calls = withCalls[0].choices[0].delta.tool_calls;
    assert.deepEqual(
      calls.map((c) => [c.index, c.id, c.type, c.function.name, JSON.parse(c.function.arguments)]),
      [
        [0, 'call_JMW1whyEaYG438VE1OIflxA2', 'function', 'GetWeatherArgs', { city: '[REDACTED]', country: 'GB', units: 'c' }],
        [1, calls[1].id, 'function', 'get_stock_price', { ticker: 'AAPL', exchange: 'NASDAQ' }],
      ],
    );
    assert.ok(!r.text.includes('Edinb'), 'no piece of the redacted argument went out');
    const finish = chunks.findIndex((c) => c.choices?.[0]?.finish_reason === 'tool_calls');
    assert.ok(finish > chunks.indexOf(withCalls[0]), 'the finish reason follows the calls');

    ctx.up.once({ sse: 'tools', writes: 5, gapMs: 5 });
    const blocked = await chat('tool-block-stream', user('a quote'), { stream: true });
    const events = parseChatStream(blocked.text);
    assert.ok(!events.done);
    assert.equal(events.chunks[events.chunks.length - 1].error.code, 'guardrail_blocked');
    assert.ok(!events.chunks.some((c) => c.choices?.[0]?.delta?.tool_calls), 'no tool call went out');
  }),
);

test(
  'X-Sluice-Guardrails adds configured guardrails; unknown names and bad JSON are 400s',
  withLogs(async () => {
    const add = { 'x-sluice-guardrails': JSON.stringify({ llm_input_guardrails: ['blocker'] }) };
    assertBlocked(await chat('none', user('forbidden'), { headers: add }), 'blocker', /found 1/);
    const alias = { 'x-tfy-guardrails': JSON.stringify({ llm_input_guardrails: ['blocker'] }) };
    assertBlocked(await chat('none', user('forbidden'), { headers: alias }), 'blocker', /found 1/);

    const unknown = await chat('none', user('hi'), {
      headers: { 'x-sluice-guardrails': JSON.stringify({ llm_input_guardrails: ['nope'] }) },
    });
    assert.equal(unknown.status, 400);
    assert.equal(unknown.json.error.code, 'invalid_guardrails');
    assert.equal(unknown.json.error.param, 'X-Sluice-Guardrails');
    assert.match(unknown.json.error.message, /'llm_input_guardrails' names 'nope', which is not a configured guardrail/);

    const badKey = await chat('none', user('hi'), { headers: { 'x-sluice-guardrails': '{"input":["blocker"]}' } });
    assert.equal(badKey.status, 400);
    assert.match(badKey.json.error.message, /unknown key 'input'/);
    const notJson = await chat('none', user('hi'), { headers: { 'x-sluice-guardrails': 'blocker' } });
    assert.equal(notJson.status, 400);
    assert.match(notJson.json.error.message, /X-Sluice-Guardrails: must be a JSON object/);
    assert.equal(ctx.up.requests.length, 0);
  }),
);

test(
  'each guardrail gets its request state back once, after every call of the request',
  withLogs(async () => {
    const before = (ctx.gw.output.match(/redactor request_end after 2 call\(s\)/g) || []).length;
    const r = await chat('in-mutate', [
      { role: 'system', content: 'a' },
      { role: 'user', content: 'b' },
    ]);
    assert.equal(r.status, 200, r.text);
    await waitFor(
      () => (ctx.gw.output.match(/redactor request_end after 2 call\(s\)/g) || []).length === before + 1,
      { what: 'one request_end with both calls counted' },
    );
  }),
);
