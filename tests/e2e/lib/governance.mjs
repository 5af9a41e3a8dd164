// Helpers for the governance tests (auth, metadata, rate limits, budgets):
// tokens and their SHA-256, manifests built from objects around the `mock`
// provider, the admin limits report, OpenAI-shaped error checks, UTC window
// arithmetic and a webhook receiver.
//
// Manifests are written as JSON, which is YAML too: the tests build them from
// plain objects and never have to quote YAML by hand.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';

import { sleep, waitFor } from './gateway.mjs';
import { postJson, request } from './http.mjs';

// ---- identities -----------------------------------------------------------

export function sha256Hex(text) {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

// A fresh random API token and the hash the manifest stores for it.
export function credential(label = 'key') {
  const token = `sk-${label}-${randomBytes(24).toString('base64url')}`;
  return { token, sha256: sha256Hex(token) };
}

// ---- manifests ------------------------------------------------------------

// One `mock` provider account. `models` are names or {name, pricing,
// max_output_tokens} objects. Options are the mock's own config keys.
export function mockProvider(name, models, { latency_ms, chunk_delay_ms, chunks, reply } = {}) {
  const p = { name, type: 'mock', models };
  if (latency_ms !== undefined) p.latency_ms = latency_ms;
  if (chunk_delay_ms !== undefined) p.chunk_delay_ms = chunk_delay_ms;
  if (chunks !== undefined) p.chunks = chunks;
  if (reply !== undefined) p.reply = reply;
  return p;
}

// A manifest for startGateway: a function of the ports that returns the text.
// `sections` are the top-level keys besides version, server and admin.
export function governanceManifest(sections, { workers = 1 } = {}) {
  return ({ port, adminPort }) =>
    JSON.stringify(
      {
        version: 1,
        server: { listen: [`127.0.0.1:${port}`], workers },
        admin: { listen: `127.0.0.1:${adminPort}` },
        ...sections,
      },
      null,
      2,
    );
}

// ---- requests -------------------------------------------------------------

// The exact body text of a chat request, so tests can compute the gateway's
// prompt estimate (ceil(body bytes / 4)) from what was really sent.
export function chatBody(model, content, extra = {}) {
  return JSON.stringify({ model, messages: [{ role: 'user', content }], ...extra });
}

export function promptEstimate(body) {
  return Math.ceil(Buffer.byteLength(body, 'utf8') / 4);
}

// The mock provider's usage: prompt tokens = ceil(characters / 4) over the
// message contents; completion tokens = words of the reply.
export function mockPromptTokens(contents) {
  const chars = contents.reduce((n, c) => n + [...c].length, 0);
  return Math.ceil(chars / 4);
}

export function wordCount(text) {
  return text.split(/\s+/).filter((w) => w !== '').length;
}

// node:http writes header strings as latin1: this makes it send `text` as
// UTF-8 bytes (metadata values may hold any character).
export function headerBytes(text) {
  return Buffer.from(text, 'utf8').toString('latin1');
}

// Headers for a caller: its token (Bearer) and its metadata header (an
// object, or header text as is).
export function callerHeaders({ token, metadata, headers = {} } = {}) {
  const h = { ...headers };
  if (token !== undefined) h.authorization = `Bearer ${token}`;
  if (metadata !== undefined) {
    h['x-sluice-metadata'] = headerBytes(typeof metadata === 'string' ? metadata : JSON.stringify(metadata));
  }
  return h;
}

// POST /v1/chat/completions with a body built by chatBody. Resolves the raw
// response plus the body text that was sent.
export async function chat(gw, { model, content = 'Hello there', extra = {}, ...caller } = {}) {
  const body = chatBody(model, content, extra);
  const res = await postJson(`${gw.url}/v1/chat/completions`, body, { headers: callerHeaders(caller) });
  return Object.assign(res, { sentBody: body });
}

// ---- errors ---------------------------------------------------------------

// Asserts an OpenAI-shaped error answer; `message` is an exact string or a
// RegExp. Returns the error object.
export function assertApiError(res, status, { type, code, param, message } = {}) {
  assert.equal(res.status, status, `status (body: ${res.text.slice(0, 500)})`);
  assert.match(res.headers['content-type'] ?? '', /^application\/json/, 'error content-type');
  const e = res.json?.error;
  assert.ok(e && typeof e === 'object', `an OpenAI error object: ${res.text.slice(0, 500)}`);
  assert.deepEqual(Object.keys(e).sort(), ['code', 'message', 'param', 'type'], res.text);
  if (type !== undefined) assert.equal(e.type, type, `error type in ${res.text}`);
  if (code !== undefined) assert.equal(e.code, code, `error code in ${res.text}`);
  if (param !== undefined) assert.equal(e.param, param, `error param in ${res.text}`);
  if (typeof message === 'string') assert.equal(e.message, message);
  else if (message instanceof RegExp) assert.match(e.message, message);
  return e;
}

// ---- admin ----------------------------------------------------------------

export async function adminLimits(gw) {
  const res = await request(`${gw.adminUrl}/admin/limits`);
  assert.equal(res.status, 200, `GET /admin/limits: ${res.status} ${res.text.slice(0, 300)}`);
  assert.ok(res.json && typeof res.json === 'object', `JSON from /admin/limits: ${res.text.slice(0, 300)}`);
  return Object.assign(res.json, { rawText: res.text });
}

export function rateRule(limits, id) {
  const rule = limits.rate_limits?.find((r) => r.id === id);
  assert.ok(rule, `rate limit '${id}' in /admin/limits: ${limits.rawText}`);
  return rule;
}

export function rateCounter(limits, id, key) {
  return rateRule(limits, id).counters?.find((c) => c.key === key);
}

export function budgetRule(limits, id) {
  const rule = limits.budgets?.find((b) => b.id === id);
  assert.ok(rule, `budget '${id}' in /admin/limits: ${limits.rawText}`);
  return rule;
}

export function budgetEntry(limits, id, key) {
  return budgetRule(limits, id).entries?.find((e) => e.key === key);
}

// Polls /admin/limits until `pick(limits)` returns something for which
// `accept` holds (settlement runs after the answer is sent). Returns it.
export async function waitForLimits(gw, pick, accept, { what = 'the limits report', timeoutMs = 5000 } = {}) {
  let last;
  try {
    return await waitFor(
      async () => {
        last = pick(await adminLimits(gw));
        return last !== undefined && accept(last) ? last : null;
      },
      { timeoutMs, what },
    );
  } catch (err) {
    err.message += `; last seen: ${JSON.stringify(last)}`;
    throw err;
  }
}

// ---- time -----------------------------------------------------------------

export const MINUTE_MS = 60 * 1000;
export const HOUR_MS = 60 * MINUTE_MS;
export const DAY_MS = 24 * HOUR_MS;

export function msUntilWindowEnd(windowMs, now = Date.now()) {
  return windowMs - (now % windowMs);
}

// Fixed windows reset at UTC boundaries: a test that counts within one
// window waits for the next one when fewer than `minRoomMs` remain.
export async function awaitWindowRoom(windowMs, minRoomMs) {
  const left = msUntilWindowEnd(windowMs);
  if (left < minRoomMs) await sleep(left + 100);
}

// OpenAI's reset format ("250ms", "12s", "1m30s", "2h0m5s") in milliseconds.
export function parseReset(text) {
  const ms = /^(\d+)ms$/.exec(text ?? '');
  if (ms) return Number(ms[1]);
  const m = /^(?:(\d+)h)?(?:(\d+)m)?(\d+)s$/.exec(text ?? '');
  assert.ok(m, `reset in OpenAI's format: ${JSON.stringify(text)}`);
  return ((Number(m[1] || 0) * 60 + Number(m[2] || 0)) * 60 + Number(m[3])) * 1000;
}

// UTC month of `now` as ISO strings without milliseconds.
export function utcMonth(now = new Date()) {
  const start = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1);
  const end = Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1);
  return { start, end, startIso: isoSeconds(start), endIso: isoSeconds(end) };
}

export function utcDay(now = Date.now()) {
  const start = now - (now % DAY_MS);
  return { start, end: start + DAY_MS, startIso: isoSeconds(start), endIso: isoSeconds(start + DAY_MS) };
}

function isoSeconds(ms) {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

// Asserts a Retry-After header: an integer >= 1 that matches the seconds
// left until `endMs` (give or take the time the request took).
export function assertRetryAfter(res, endMs, sentAt) {
  const text = res.headers['retry-after'];
  assert.match(text ?? '', /^\d+$/, `Retry-After is an integer: ${text}`);
  const secs = Number(text);
  assert.ok(secs >= 1, `Retry-After >= 1: ${secs}`);
  const earliest = Math.max(1, Math.ceil((endMs - Date.now()) / 1000) - 1);
  const latest = Math.ceil((endMs - sentAt) / 1000) + 1;
  assert.ok(secs >= earliest && secs <= latest, `Retry-After ${secs} within [${earliest}, ${latest}]`);
  return secs;
}

// ---- webhook --------------------------------------------------------------

// A webhook receiver on loopback: records every request's method, path,
// headers and parsed JSON body, answers 204.
export async function startWebhook() {
  const posts = [];
  const server = http.createServer((req, res) => {
    const parts = [];
    req.on('data', (d) => parts.push(d));
    req.on('end', () => {
      const text = Buffer.concat(parts).toString('utf8');
      let json;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      posts.push({ method: req.method, path: req.url, headers: req.headers, text, json });
      res.writeHead(204);
      res.end();
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${server.address().port}/alerts`;
  return {
    url,
    posts,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}
