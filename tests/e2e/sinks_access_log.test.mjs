// The access-log sink: one line per request with time, level, ip, tenant,
// user, model, method, path, status, time_taken and trace_id — logfmt on
// stdout and JSON in a file — for proxied requests and for those the gateway
// answers itself.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { startGateway, waitFor, withLogs } from './lib/gateway.mjs';
import { chat, credential, governanceManifest, mockProvider } from './lib/governance.mjs';

const alice = credential('alice');
let gw;

before(async () => {
  gw = await startGateway(
    governanceManifest({
      providers: [mockProvider('mock', ['m'])],
      auth: {
        teams: [{ name: 'payments', members: ['alice@example.com'] }],
        users: [{ email: 'alice@example.com', token_sha256: alice.sha256, models: ['*'] }],
      },
      logging: { flush_interval_ms: 20 },
      sinks: [
        { plugin: 'access-log' },
        { plugin: 'access-log', config: { format: 'json', path: './access.jsonl' } },
      ],
    }),
  );
});

after(async () => {
  assert.deepEqual(await gw?.stop(), { code: 0, signal: null });
});

// logfmt: key=value pairs, values quoted when they need it.
function parseLogfmt(line) {
  const out = {};
  for (const m of line.matchAll(/([a-z_]+)=("((?:[^"\\]|\\.)*)"|\S*)/g)) {
    out[m[1]] = m[3] !== undefined ? m[3].replace(/\\(.)/g, '$1') : m[2];
  }
  return out;
}

function stdoutLines() {
  return gw.stdout.split('\n').filter((l) => l.startsWith('time='));
}

function fileLines() {
  try {
    return readFileSync(path.join(gw.dir, 'access.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
  } catch {
    return [];
  }
}

test(
  'a proxied request: logfmt on stdout and JSON in the file, with every field',
  withLogs(async () => {
    const trace = 'a0b1c2d3e4f5061728394a5b6c7d8e9f';
    const res = await chat(gw, {
      model: 'mock/m',
      token: alice.token,
      headers: { traceparent: `00-${trace}-1122334455667788-01` },
    });
    assert.equal(res.status, 200);
    const line = await waitFor(() => stdoutLines().find((l) => l.includes(trace)), { what: 'the logfmt line' });
    const f = parseLogfmt(line);
    assert.deepEqual(Object.keys(f), ['time', 'level', 'ip', 'tenant', 'user', 'model', 'method', 'path', 'status', 'time_taken', 'trace_id']);
    assert.match(f.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.ok(Math.abs(Date.parse(f.time) - Date.now()) < 60000);
    assert.equal(f.level, 'info');
    assert.equal(f.ip, '127.0.0.1');
    assert.equal(f.tenant, 'payments');
    assert.equal(f.user, 'user:alice@example.com');
    assert.equal(f.model, 'mock/m');
    assert.equal(f.method, 'POST');
    assert.equal(f.path, '/v1/chat/completions');
    assert.equal(f.status, '200');
    assert.match(f.time_taken, /^\d+$/);
    assert.equal(f.trace_id, trace);

    const j = await waitFor(() => fileLines().find((l) => l.trace_id === trace), { what: 'the JSON line' });
    assert.deepEqual(
      { ...j, time: undefined, time_taken: undefined },
      {
        time: undefined, level: 'info', ip: '127.0.0.1', tenant: 'payments', user: 'user:alice@example.com',
        model: 'mock/m', method: 'POST', path: '/v1/chat/completions', status: 200, time_taken: undefined, trace_id: trace,
      },
    );
    assert.equal(typeof j.time_taken, 'number');
  }),
);

test(
  'refused requests are logged with their status and level; empty values are quoted',
  withLogs(async () => {
    const trace = 'ffeeddccbbaa99887766554433221100';
    const res = await chat(gw, { model: 'mock/m', token: 'sk-wrong', headers: { traceparent: `00-${trace}-0102030405060708-01` } });
    assert.equal(res.status, 401);
    const line = await waitFor(() => stdoutLines().find((l) => l.includes(trace)), { what: 'the 401 line' });
    const f = parseLogfmt(line);
    assert.equal(f.status, '401');
    assert.equal(f.level, 'warn');
    assert.match(line, / tenant="" user="" /, 'unknown caller: empty, quoted');
    const j = await waitFor(() => fileLines().find((l) => l.trace_id === trace), { what: 'the JSON 401 line' });
    assert.equal(j.status, 401);
    assert.equal(j.user, '');
  }),
);

test(
  'a bad access-log config stops the gateway with the sink and the reason',
  withLogs(async () => {
    const { runSluice, writeManifest } = await import('./lib/gateway.mjs');
    const file = writeManifest(`version: 1
providers: [{name: mock, type: mock, models: [m]}]
sinks:
  - {plugin: access-log, config: {format: xml}}
`);
    const v = await runSluice(['validate', '-c', file]);
    assert.equal(v.code, 1);
    assert.match(v.stderr, /sluice\.yaml:4:\d+: sinks\[0\]\.config\.format: .*must be one of logfmt, json \(got 'xml'\)/);
    const unwritable = writeManifest(`version: 1
server: {listen: ["127.0.0.1:0"]}
providers: [{name: mock, type: mock, models: [m]}]
sinks:
  - {plugin: access-log, config: {path: /proc/no/such/dir/access.log}}
`);
    const s = await runSluice(['serve', '-c', unwritable]);
    assert.equal(s.code, 1);
    assert.match(s.stderr, /sinks\[0\] \(access-log\): cannot open \/proc\/no\/such\/dir\/access\.log: No such file or directory/);
  }),
);
