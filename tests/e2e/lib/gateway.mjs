// Starts the real sluice binary for a test: writes the manifest to a temp dir,
// picks free ports, waits (bounded) for /readyz, captures stdout/stderr, and
// stops it with SIGTERM. Every wait here has a deadline.
import { spawn, execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

export const SOURCE_DIR = process.env.SLUICE_SOURCE_DIR || path.resolve(here, '../../..');
export const BUILD_DIR = process.env.SLUICE_BUILD_DIR || path.join(SOURCE_DIR, 'build');
export const SLUICE_BIN = process.env.SLUICE_BIN || path.join(BUILD_DIR, 'sluice');
export const FIXTURES_DIR = path.resolve(here, '../fixtures');

// Sanitizer builds start and stop slower; the deadlines scale with this.
const SLOW = Number(process.env.SLUICE_E2E_SLOWDOWN || 1);
export const START_TIMEOUT_MS = 15000 * SLOW;
export const STOP_TIMEOUT_MS = 15000 * SLOW;

const OUTPUT_CAP = 4 * 1024 * 1024;

export function requireBinary() {
  if (!existsSync(SLUICE_BIN)) {
    throw new Error(`sluice binary not found at ${SLUICE_BIN} (set SLUICE_BIN or SLUICE_BUILD_DIR)`);
  }
  return SLUICE_BIN;
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Resolves like `promise`, or rejects with `message` after `timeoutMs`.
export function withDeadline(promise, timeoutMs, message) {
  let timer;
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${message} (after ${timeoutMs} ms)`)), timeoutMs);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

// Polls `check` until it returns a truthy value or the deadline passes. An
// error with `fatal` set ends the wait at once.
export async function waitFor(check, { timeoutMs = 10000, intervalMs = 25, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  let lastError;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (err) {
      if (err.fatal) throw err; // no point waiting any longer
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const why = lastError ? ` (last error: ${lastError.message})` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}`);
    }
    await sleep(intervalMs);
  }
}

// A port nobody listens on right now: bind port 0, read it, close.
export function freePort(host = '127.0.0.1') {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, host, () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// True when something accepts connections on host:port.
export function isListening(port, host = '127.0.0.1', timeoutMs = 1000) {
  return new Promise((resolve) => {
    const sock = net.connect({ port, host });
    const done = (v) => {
      sock.destroy();
      resolve(v);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

// Temp dirs (manifests, gateway cwd) go away when the file's tests pass;
// after a failure they stay for a look (the failure dump names them).
const tempDirs = [];
process.on('exit', (code) => {
  if (code !== 0 || process.exitCode) return;
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

export function tempDir(prefix = 'sluice-e2e-') {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

// Writes `text` as a manifest file in a fresh temp dir; returns its path.
export function writeManifest(text, name = 'sluice.yaml') {
  const dir = tempDir();
  const file = path.join(dir, name);
  writeFileSync(file, text);
  return file;
}

// Fills {{PORT}} and {{ADMIN_PORT}} (or calls a function with the ports).
function renderManifest(manifest, ports) {
  if (typeof manifest === 'function') return manifest(ports);
  return manifest.replaceAll('{{PORT}}', String(ports.port)).replaceAll('{{ADMIN_PORT}}', String(ports.adminPort));
}

function getStatus(url, timeoutMs = 1000) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

// Every gateway started by this process, for failure dumps and cleanup.
const started = [];
let nextId = 1;

process.on('exit', () => {
  for (const gw of started) {
    if (gw.exit === null) {
      try {
        process.kill(gw.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
});

class Gateway {
  constructor(child, info) {
    this.id = nextId++;
    this.child = child;
    this.pid = child.pid;
    this.port = info.port;
    this.adminPort = info.adminPort;
    this.url = `http://127.0.0.1:${info.port}`;
    this.adminUrl = info.adminPort ? `http://127.0.0.1:${info.adminPort}` : null;
    this.manifestPath = info.manifestPath;
    this.dir = info.dir;
    this.stdout = '';
    this.stderr = '';
    this.exit = null; // {code, signal} once exited
    this.exited = new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        this.exit = { code, signal };
        resolve(this.exit);
      });
    });
    const append = (key) => (data) => {
      if (this[key].length < OUTPUT_CAP) this[key] += data.toString('utf8');
    };
    child.stdout.on('data', append('stdout'));
    child.stderr.on('data', append('stderr'));
  }

  get output() {
    return this.stdout + this.stderr;
  }

  // Resident set size in bytes, from /proc/<pid>/status.
  rssBytes() {
    const status = readFileSync(`/proc/${this.pid}/status`, 'utf8');
    const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
    if (!m) throw new Error(`no VmRSS in /proc/${this.pid}/status`);
    return Number(m[1]) * 1024;
  }

  signal(sig) {
    if (this.exit === null) this.child.kill(sig);
  }

  // Resolves with the exit status, or {timedOut: true} after `timeoutMs`.
  waitExit(timeoutMs = STOP_TIMEOUT_MS) {
    let timer;
    const timeout = new Promise((resolve) => {
      timer = setTimeout(() => resolve({ timedOut: true }), timeoutMs);
    });
    return Promise.race([this.exited, timeout]).finally(() => clearTimeout(timer));
  }

  // SIGTERM, then wait for the exit; SIGKILL when the deadline passes.
  // Returns {code, signal} (or {code: null, signal: 'SIGKILL', timedOut: true}).
  async stop({ timeoutMs = STOP_TIMEOUT_MS } = {}) {
    if (this.exit !== null) return this.exit;
    this.child.kill('SIGTERM');
    const result = await this.waitExit(timeoutMs);
    if (result.timedOut) {
      this.child.kill('SIGKILL');
      await this.exited;
      return { code: null, signal: 'SIGKILL', timedOut: true };
    }
    return result;
  }

  dump(label = 'gateway') {
    const exit = this.exit ? ` exit=${JSON.stringify(this.exit)}` : ' (running)';
    return (
      `----- ${label} #${this.id} pid ${this.pid}${exit} manifest ${this.manifestPath}\n` +
      `----- stdout\n${this.stdout}\n----- stderr\n${this.stderr}\n-----`
    );
  }
}

// Starts `sluice serve -c <manifest>` (or with `args` as given) and waits until
// GET /readyz on the admin listener answers 200. `manifest` is YAML text with
// {{PORT}} / {{ADMIN_PORT}} placeholders, or a function of {port, adminPort};
// null starts `sluice serve` with no -c (the built-in default).
export async function startGateway(manifest, opts = {}) {
  requireBinary();
  const port = opts.port ?? (await freePort());
  const adminPort = opts.adminPort ?? (await freePort());
  let manifestPath = null;
  let dir = null;
  const args = ['serve'];
  if (manifest !== null) {
    manifestPath = writeManifest(renderManifest(manifest, { port, adminPort }));
    dir = path.dirname(manifestPath);
    args.push('-c', manifestPath);
  }
  args.push(...(opts.extraArgs || []));
  const child = spawn(SLUICE_BIN, args, {
    cwd: dir || tempDir(),
    env: { ...process.env, ...(opts.env || {}) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const gw = new Gateway(child, { port, adminPort: manifest === null ? null : adminPort, manifestPath, dir });
  started.push(gw);
  await new Promise((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });

  const ready = opts.ready || (gw.adminUrl ? 'readyz' : 'port');
  try {
    await waitFor(
      async () => {
        if (gw.exit !== null) {
          throw Object.assign(new Error(`sluice exited early: ${JSON.stringify(gw.exit)}`), {
            fatal: true,
          });
        }
        if (ready === 'readyz') {
          const r = await getStatus(`${gw.adminUrl}/readyz`);
          return r.status === 200;
        }
        return isListening(port);
      },
      { timeoutMs: opts.readyTimeoutMs ?? START_TIMEOUT_MS, what: `${ready} of sluice pid ${gw.pid}` },
    );
  } catch (err) {
    if (gw.exit === null) {
      child.kill('SIGKILL');
      await gw.exited;
    }
    err.message += `\n${gw.dump()}`;
    throw err;
  }
  return gw;
}

const lastLines = (text, n) => text.split('\n').slice(-n).join('\n');

// Wraps a node:test function so that a failure prints the output of every
// gateway started during the test (and of any still running), and carries
// the end of each one's stderr in the error itself, so the failure summary
// at the end of a run (all a CI log may keep) says what the gateway saw.
export function withLogs(fn) {
  return async function wrapped(t) {
    const firstId = nextId;
    try {
      return await fn(t);
    } catch (err) {
      const tails = [];
      for (const gw of started) {
        if (gw.id < firstId && gw.exit !== null) continue;
        process.stderr.write(`${gw.dump()}\n`);
        const exit = gw.exit ? ` exit=${JSON.stringify(gw.exit)}` : ' (running)';
        tails.push(`----- gateway #${gw.id}${exit}, last stderr lines:\n${lastLines(gw.stderr, 30)}`);
      }
      if (tails.length === 0) throw err;
      throw new Error(`${err?.message ?? err}\n${tails.join('\n')}`, { cause: err });
    }
  };
}

// Runs the sluice CLI to completion: resolves {code, signal, stdout, stderr}.
export function runSluice(args, { cwd, env, timeoutMs = 30000 * SLOW } = {}) {
  requireBinary();
  return new Promise((resolve) => {
    execFile(
      SLUICE_BIN,
      args,
      {
        cwd: cwd || os.tmpdir(),
        env: { ...process.env, ...(env || {}) },
        timeout: timeoutMs,
        killSignal: 'SIGKILL',
        maxBuffer: 16 * 1024 * 1024,
      },
      (err, stdout, stderr) => {
        let code = 0;
        let signal = null;
        if (err) {
          code = typeof err.code === 'number' ? err.code : null;
          signal = err.signal || null;
        }
        resolve({ code, signal, stdout, stderr, output: stdout + stderr });
      },
    );
  });
}

// The usual manifest of the suite: one `openai` account "up" and one
// `openai-compatible` account "compat", both pointing at the mock upstream.
export function openaiManifest(upstreamUrl, { server = '', providers = '', top = '' } = {}) {
  return `version: 1
server:
  listen: ["127.0.0.1:{{PORT}}"]
  workers: 1
${server}admin:
  listen: "127.0.0.1:{{ADMIN_PORT}}"
providers:
  - name: up
    type: openai
    base_url: "${upstreamUrl}"
    auth: {bearer: sk-test-123}
    models: [gpt-4o, text-embedding-3-small, gpt-3.5-turbo-instruct]
  - name: compat
    type: openai-compatible
    base_url: "${upstreamUrl}"
    models:
      - {name: llama, upstream_name: meta-llama/Llama-3.1-70B-Instruct}
${providers}${top}`;
}
