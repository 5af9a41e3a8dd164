// The admin listener's health endpoints, on their own port.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { withLogs } from './lib/gateway.mjs';
import { request } from './lib/http.mjs';
import { gatewaySuite } from './lib/suite.mjs';

const ctx = gatewaySuite();

test(
  'GET /healthz answers 200 "ok" and /readyz 200 once serving',
  withLogs(async () => {
    const health = await request(`${ctx.gw.adminUrl}/healthz`);
    assert.equal(health.status, 200);
    assert.equal(health.text.trim(), 'ok');
    const ready = await request(`${ctx.gw.adminUrl}/readyz`);
    assert.equal(ready.status, 200);
    assert.notEqual(ctx.gw.adminPort, ctx.gw.port);
  }),
);

test(
  'the admin listener does not serve the API',
  withLogs(async () => {
    const api = await request(`${ctx.gw.adminUrl}/v1/models`);
    assert.equal(api.status, 404);
    const models = await request(`${ctx.gw.url}/v1/models`);
    assert.equal(models.status, 200);
  }),
);
