// Per-file fixture: one mock OpenAI upstream and one gateway in front of it,
// started before the file's tests and stopped (SIGTERM, exit code 0) after.
import assert from 'node:assert/strict';
import { after, before, beforeEach } from 'node:test';

import OpenAI from 'openai';

import { openaiManifest, startGateway } from './gateway.mjs';
import { startOpenAIUpstream } from './openai_upstream.mjs';

// `manifestFor(upstream)` returns (or resolves to) the manifest text, with
// {{PORT}} / {{ADMIN_PORT}} placeholders.
// Returns an object whose fields (up, gw) are filled in by the before hook.
// `gatewayOpts` go to startGateway (e.g. {env}).
export function gatewaySuite(manifestFor = (up) => openaiManifest(up.url), gatewayOpts = {}) {
  const ctx = { up: null, gw: null };
  before(async () => {
    ctx.up = await startOpenAIUpstream();
    ctx.gw = await startGateway(await manifestFor(ctx.up), gatewayOpts);
  });
  beforeEach(() => ctx.up?.reset());
  after(async () => {
    const exit = ctx.gw ? await ctx.gw.stop() : null;
    await ctx.up?.close();
    if (exit && (exit.code !== 0 || exit.signal !== null)) {
      process.stderr.write(`${ctx.gw.dump()}\n`);
    }
    if (exit) assert.deepEqual(exit, { code: 0, signal: null }, 'gateway exit status after SIGTERM');
  });
  return ctx;
}

// The official SDK pointed at the gateway. The key is the client's own and
// must never reach the upstream (the gateway uses the manifest's).
export const CLIENT_KEY = 'sk-client-must-not-leak';

export function sdk(gw, basePath = '/v1', opts = {}) {
  return new OpenAI({ baseURL: gw.url + basePath, apiKey: CLIENT_KEY, maxRetries: 0, timeout: 20000, ...opts });
}

export const SERVER_TIMING_TOTAL = /(?:^|,)\s*total;dur=\d+(?:\.\d+)?(?:\s*[,;]|$)/;
export const REQUEST_ID = /^[A-Za-z0-9._:-]{8,128}$/;
