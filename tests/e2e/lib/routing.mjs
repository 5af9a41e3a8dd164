// Helpers for the routing suites: several mock OpenAI upstreams, one
// provider account in front of each ("up-a", "up-b", ...), the admin's
// /admin/targets report, and a bounded pool for many requests at once.
import assert from 'node:assert/strict';
import { after, before, beforeEach } from 'node:test';

import { startGateway } from './gateway.mjs';
import { postJson, request } from './http.mjs';
import { startOpenAIUpstream } from './openai_upstream.mjs';

// Starts one upstream per name; returns {a: upstream, b: upstream, ...}.
export async function startUpstreams(names) {
  const ups = {};
  for (const n of names) ups[n] = await startOpenAIUpstream(`up-${n}`);
  return ups;
}

export async function closeUpstreams(ups) {
  for (const up of Object.values(ups || {})) await up.close();
}

export function resetUpstreams(ups) {
  for (const up of Object.values(ups || {})) up.reset();
}

// Per-file fixture: upstreams `names` and one gateway on the manifest
// `manifestFor(ups)` returns, started before the file's tests (upstreams
// reset before each) and stopped after them, with exit code 0.
export function routingSuite(names, manifestFor) {
  const ctx = { ups: null, gw: null };
  before(async () => {
    ctx.ups = await startUpstreams(names);
    ctx.gw = await startGateway(await manifestFor(ctx.ups));
  });
  beforeEach(() => resetUpstreams(ctx.ups));
  after(async () => {
    const exit = ctx.gw ? await ctx.gw.stop() : null;
    await closeUpstreams(ctx.ups);
    if (exit) assert.deepEqual(exit, { code: 0, signal: null }, 'gateway exit status after SIGTERM');
  });
  return ctx;
}

// The providers section: account "up-<name>" (type openai) serving `models`
// from upstream <name>.
export function providersYaml(ups, models = ['gpt-4o']) {
  return Object.entries(ups)
    .map(
      ([n, up]) => `  - name: up-${n}
    type: openai
    base_url: "${up.url}"
    auth: {bearer: sk-up-${n}}
    organization: org-${n}
    models: [${models.join(', ')}]
`,
    )
    .join('');
}

export function routingManifest(ups, { routing, virtualModels, extraProviders = '', top = '', models } = {}) {
  return `version: 1
server:
  listen: ["127.0.0.1:{{PORT}}"]
  workers: 2
  upstream: {connect_timeout_ms: 2000, first_byte_timeout_ms: 10000, total_timeout_ms: 20000}
admin:
  listen: "127.0.0.1:{{ADMIN_PORT}}"
providers:
${providersYaml(ups, models)}${extraProviders}virtual_models: [${virtualModels.join(', ')}]
routing:
${routing}${top}`;
}

export const MESSAGES = [{ role: 'user', content: 'Say foo' }];

export function chat(gw, model, { stream = false, headers = {}, body = {} } = {}) {
  return postJson(`${gw.url}/v1/chat/completions`, { model, messages: MESSAGES, stream, ...body }, { headers });
}

// GET /admin/targets: {rules: [{id, strategy, targets: [...]}]}.
export async function targets(gw) {
  const res = await request(`${gw.adminUrl}/admin/targets`);
  if (res.status !== 200) throw new Error(`/admin/targets answered ${res.status}: ${res.text}`);
  return res.json;
}

export async function targetReport(gw, ruleId, target) {
  const report = await targets(gw);
  const rule = report.rules.find((r) => r.id === ruleId);
  if (!rule) throw new Error(`no rule ${ruleId} in /admin/targets`);
  const t = rule.targets.find((x) => x.target === target);
  if (!t) throw new Error(`no target ${target} in rule ${ruleId}`);
  return t;
}

// Runs `count` calls of `fn(i)` with at most `width` in flight; resolves
// with their results in order.
export async function pool(count, width, fn) {
  const results = new Array(count);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      results[i] = await fn(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, count) }, worker));
  return results;
}

// Pearson's chi-square statistic of observed counts against expected shares.
export function chiSquare(observed, shares) {
  const total = observed.reduce((a, b) => a + b, 0);
  return observed.reduce((chi, o, i) => {
    const e = total * shares[i];
    return chi + ((o - e) * (o - e)) / e;
  }, 0);
}
