// Helpers for the observability suites: real clickhouse-server and
// prometheus processes from Debian (free ports, temp dirs, bounded waits),
// Prometheus text parsing, and reads of the admin request log.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';

import { freePort, tempDir, waitFor } from './gateway.mjs';
import { request } from './http.mjs';

const SLOW = Number(process.env.SLUICE_E2E_SLOWDOWN || 1);
const OUTPUT_CAP = 256 * 1024;

const running = new Set();
process.on('exit', () => {
  for (const p of running) {
    try {
      p.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
});

// A child process whose output is kept (capped) and whose exit is awaited.
class Service {
  constructor(name, bin, args, cwd) {
    this.name = name;
    this.bin = bin;
    this.args = args;
    this.cwd = cwd;
    this.output = '';
    this.proc = null;
  }

  get running() {
    return this.proc !== null && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  async spawn() {
    const proc = spawn(this.bin, this.args, { cwd: this.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = proc;
    const append = (d) => {
      if (this.output.length < OUTPUT_CAP) this.output += d.toString('utf8');
    };
    proc.stdout.on('data', append);
    proc.stderr.on('data', append);
    this.exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
    await new Promise((resolve, reject) => {
      proc.once('spawn', resolve);
      proc.once('error', (err) => {
        const hint = err.code === 'ENOENT' ? ` (${this.bin} not found: scripts/setup-deps.sh --test installs it)` : '';
        reject(new Error(`cannot start ${this.bin}${hint}: ${err.message}`));
      });
    });
    running.add(proc);
    proc.once('exit', () => running.delete(proc));
  }

  async waitReady(check, what) {
    try {
      await waitFor(
        async () => {
          if (!this.running) {
            throw Object.assign(new Error(`${this.name} exited early:\n${this.output}`), { fatal: true });
          }
          return check();
        },
        { timeoutMs: 30000 * SLOW, intervalMs: 100, what },
      );
    } catch (err) {
      this.proc?.kill('SIGKILL');
      throw err;
    }
  }

  async stop(signal = 'SIGTERM') {
    if (!this.running) return;
    this.proc.kill(signal);
    let timer;
    const timeout = new Promise((resolve) => {
      timer = setTimeout(() => resolve('timeout'), 15000);
    });
    const r = await Promise.race([this.exited, timeout]).finally(() => clearTimeout(timer));
    if (r === 'timeout') {
      this.proc.kill('SIGKILL');
      await this.exited;
    }
  }

  kill() {
    return this.stop('SIGKILL');
  }
}

// ---- ClickHouse -------------------------------------------------------------

export class ClickHouse extends Service {
  constructor(dir, ports, user, password) {
    super('clickhouse-server', process.env.CLICKHOUSE_SERVER || 'clickhouse-server', [`--config-file=${path.join(dir, 'config.xml')}`], dir);
    this.dir = dir;
    this.ports = ports;
    this.user = user;
    this.password = password;
    this.url = `http://127.0.0.1:${ports.http}`;
  }

  async start() {
    await this.spawn();
    await this.waitReady(async () => {
      const r = await request(`${this.url}/ping`, { timeoutMs: 1000 }).catch(() => null);
      return r?.status === 200;
    }, `clickhouse-server on port ${this.ports.http}`);
    return this;
  }

  // Runs a query as the sink's user; resolves the answer text (throws on an error status).
  async query(sql) {
    const r = await request(`${this.url}/?query=${encodeURIComponent(sql)}`, {
      headers: { 'X-ClickHouse-User': this.user, 'X-ClickHouse-Key': this.password },
    });
    if (r.status !== 200) throw new Error(`clickhouse: ${sql}: ${r.status} ${r.text}`);
    return r.text;
  }

  async rows(sql) {
    const text = await this.query(`${sql} FORMAT JSONEachRow`);
    return text.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l));
  }

  async restart() {
    await this.stop();
    return this.start();
  }
}

// clickhouse-server (Debian's 18.16) on free loopback ports in a temp dir,
// with a user `sluice` whose password is `password`.
export async function startClickHouse({ password = 'ch-test-password' } = {}) {
  const dir = tempDir('sluice-clickhouse-');
  const ports = { http: await freePort(), tcp: await freePort() };
  writeFileSync(
    path.join(dir, 'config.xml'),
    `<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><console>1</console></logger>
  <http_port>${ports.http}</http_port>
  <tcp_port>${ports.tcp}</tcp_port>
  <listen_host>127.0.0.1</listen_host>
  <path>${dir}/data/</path>
  <tmp_path>${dir}/tmp/</tmp_path>
  <user_files_path>${dir}/user_files/</user_files_path>
  <format_schema_path>${dir}/format_schemas/</format_schema_path>
  <users_config>${dir}/users.xml</users_config>
  <mark_cache_size>5368709</mark_cache_size>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
</yandex>
`,
  );
  writeFileSync(
    path.join(dir, 'users.xml'),
    `<?xml version="1.0"?>
<yandex>
  <profiles><default></default></profiles>
  <users>
    <sluice><password>${password}</password><networks><ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota></sluice>
  </users>
  <quotas><default></default></quotas>
</yandex>
`,
  );
  return new ClickHouse(dir, ports, 'sluice', password).start();
}

// ---- Prometheus -------------------------------------------------------------

export class Prometheus extends Service {
  constructor(dir, port) {
    super('prometheus', process.env.PROMETHEUS || 'prometheus', [
      `--config.file=${path.join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ], dir);
    this.url = `http://127.0.0.1:${port}`;
  }

  async start() {
    await this.spawn();
    await this.waitReady(async () => {
      const r = await request(`${this.url}/-/ready`, { timeoutMs: 1000 }).catch(() => null);
      return r?.status === 200;
    }, `prometheus on ${this.url}`);
    return this;
  }

  // An instant query: resolves the result vector.
  async query(promql) {
    const r = await request(`${this.url}/api/v1/query?query=${encodeURIComponent(promql)}`);
    assert.equal(r.status, 200, r.text);
    return r.json.data.result;
  }

  async targets() {
    const r = await request(`${this.url}/api/v1/targets`);
    return r.json.data.activeTargets;
  }
}

// Prometheus scraping `target` (host:port, path /metrics) every second.
export async function startPrometheus(target, { bearer } = {}) {
  const dir = tempDir('sluice-prometheus-');
  const auth = bearer ? `\n    authorization: {type: Bearer, credentials: "${bearer}"}` : '';
  writeFileSync(
    path.join(dir, 'prometheus.yml'),
    `global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: sluice
    metrics_path: /metrics${auth}
    static_configs: [{targets: ["${target}"]}]
`,
  );
  return new Prometheus(dir, await freePort()).start();
}

// ---- Prometheus text format -----------------------------------------------

// Parses exposition text into [{name, labels, value}] (comments skipped).
export function parseMetrics(text) {
  const out = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `malformed metrics line: ${line}`);
    const labels = {};
    if (m[3]) {
      for (const lm of m[3].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[lm[1]] = lm[2];
    }
    out.push({ name: m[1], labels, value: Number(m[4]) });
  }
  return out;
}

// The value of the one sample named `name` whose labels include `labels`
// (undefined when none; an error when several match).
export function sample(samples, name, labels = {}) {
  const hits = samples.filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  assert.ok(hits.length <= 1, `${hits.length} samples match ${name} ${JSON.stringify(labels)}`);
  return hits[0]?.value;
}

export async function scrape(gw, headers = {}) {
  const r = await request(`${gw.adminUrl}/metrics`, { headers });
  assert.equal(r.status, 200, r.text);
  assert.match(r.headers['content-type'], /^text\/plain; version=0\.0\.4/);
  return parseMetrics(r.text);
}

// ---- the admin request log ----------------------------------------------------

// GET /admin/requests?<params>; resolves the response (json: {requests, next_cursor}).
export function adminRequests(gw, params = {}, headers = {}) {
  const q = new URLSearchParams(params).toString();
  return request(`${gw.adminUrl}/admin/requests${q ? '?' + q : ''}`, { headers });
}

// Waits until the request log holds the record of request `id`; resolves it.
export async function waitForRecord(gw, id, headers = {}) {
  return waitFor(
    async () => {
      const r = await request(`${gw.adminUrl}/admin/requests/${encodeURIComponent(id)}`, { headers });
      return r.status === 200 ? r.json : null;
    },
    { timeoutMs: 10000 * SLOW, what: `record ${id} in the request log` },
  );
}
