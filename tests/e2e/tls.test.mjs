// TLS termination on the listener (server.tls): curl and node's https speak
// HTTPS to the gateway and verify its certificate against the test CA; a
// plain-HTTP client on the TLS port gets no answer in clear text.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { startGateway, tempDir, withLogs } from './lib/gateway.mjs';
import { curl } from './lib/http.mjs';

let gw;
let certFile;
let httpsUrl;

before(async () => {
  const dir = tempDir('sluice-e2e-tls-');
  certFile = path.join(dir, 'cert.pem');
  const keyFile = path.join(dir, 'key.pem');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
  ], { stdio: 'ignore' });
  gw = await startGateway(`version: 1
server:
  listen: ["127.0.0.1:{{PORT}}"]
  workers: 1
  tls: {cert: "${certFile}", key: "${keyFile}"}
admin:
  listen: "127.0.0.1:{{ADMIN_PORT}}"
providers:
  - {name: mock, type: mock, models: [gpt-4o-mini]}
`);
  httpsUrl = gw.url.replace('http://', 'https://');
});

after(async () => {
  const exit = await gw?.stop();
  if (exit) assert.deepEqual(exit, { code: 0, signal: null });
});

test(
  'curl over HTTPS with the CA pinned: chat completion and the TLS handshake verified',
  withLogs(async () => {
    const r = await curl(`${httpsUrl}/v1/chat/completions`, [
      '--cacert', certFile, '-H', 'Content-Type: application/json',
      '-d', JSON.stringify({ model: 'mock/gpt-4o-mini', messages: [{ role: 'user', content: 'tls' }] }),
    ]);
    assert.equal(r.status, 200, r.stderr);
    assert.equal(JSON.parse(r.body).choices[0].message.content, 'Mock reply to: tls');
  }),
);

test(
  'curl without the CA refuses the self-signed certificate',
  withLogs(async () => {
    await assert.rejects(curl(`${httpsUrl}/v1/models`), /certificate/i);
  }),
);

// One request on a keep-alive HTTPS agent that trusts only the test CA.
function httpsRequest(agent, method, urlPath, body) {
  return new Promise((resolve, reject) => {
    const req = https.request(
      `${httpsUrl}${urlPath}`,
      { method, agent, headers: body ? { 'Content-Type': 'application/json' } : {} },
      (res) => {
        let data = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (data += d));
        res.on('end', () => resolve({ status: res.statusCode, body: data, socket: req.socket }));
      },
    );
    req.on('error', reject);
    req.end(body ? JSON.stringify(body) : undefined);
  });
}

test(
  'an SSE stream and a second request over one verified keep-alive TLS connection',
  withLogs(async () => {
    const agent = new https.Agent({ ca: fs.readFileSync(certFile), keepAlive: true, maxSockets: 1 });
    const first = await httpsRequest(agent, 'POST', '/v1/chat/completions', {
      model: 'mock/gpt-4o-mini',
      messages: [{ role: 'user', content: 'stream over tls' }],
      stream: true,
    });
    assert.equal(first.status, 200);
    const text = first.body
      .split('\n\n')
      .filter((e) => e.startsWith('data: {'))
      .map((e) => JSON.parse(e.slice(6)).choices[0]?.delta?.content ?? '')
      .join('');
    assert.equal(text, 'Mock reply to: stream over tls');
    assert.ok(first.body.trimEnd().endsWith('data: [DONE]'));
    const second = await httpsRequest(agent, 'GET', '/v1/models');
    assert.equal(second.status, 200);
    assert.deepEqual(JSON.parse(second.body).data.map((m) => m.id), ['mock/gpt-4o-mini']);
    assert.equal(second.socket, first.socket, 'the TLS connection is reused');
    agent.destroy();
  }),
);

test(
  'plain HTTP on the TLS port gets no clear-text HTTP answer',
  withLogs(async () => {
    const reply = await new Promise((resolve, reject) => {
      const sock = net.connect(gw.port, '127.0.0.1', () => sock.write('GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n'));
      let data = '';
      sock.on('data', (d) => (data += d.toString('latin1')));
      sock.on('close', () => resolve(data));
      sock.on('error', () => resolve(data));
      sock.setTimeout(5000, () => reject(new Error('the gateway kept a non-TLS client open')));
    });
    assert.ok(!reply.startsWith('HTTP/1.1'), `got clear text: ${JSON.stringify(reply.slice(0, 40))}`);
  }),
);
