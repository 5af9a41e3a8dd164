// A real redis-server for a test: on a free loopback port, in its own temp
// dir, without persistence. It can be killed and restarted on the same port
// (to test what the gateway does while Redis is away). Every wait here has a
// deadline; a missing redis-server binary is an error, not a skip.
import { spawn } from 'node:child_process';
import net from 'node:net';

import { freePort, tempDir, waitFor } from './gateway.mjs';

const REDIS_BIN = process.env.REDIS_SERVER || 'redis-server';
const START_TIMEOUT_MS = 10000;
const STOP_TIMEOUT_MS = 10000;
const OUTPUT_CAP = 256 * 1024;

const running = new Set();
process.on('exit', () => {
  for (const r of running) {
    try {
      process.kill(r.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

// Sends one command (an array of strings) and resolves the raw RESP reply.
export function redisCommand(port, args, { timeoutMs = 2000 } = {}) {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ port, host: '127.0.0.1' });
    let reply = '';
    const done = (err, value) => {
      sock.destroy();
      if (err) reject(err);
      else resolve(value);
    };
    sock.setTimeout(timeoutMs, () => done(new Error(`redis ${args[0]}: no reply in ${timeoutMs} ms`)));
    sock.once('error', (err) => done(err));
    sock.on('data', (d) => {
      reply += d.toString('utf8');
      if (reply.endsWith('\r\n')) done(null, reply);
    });
    sock.once('connect', () => {
      const parts = args.map((a) => `$${Buffer.byteLength(String(a))}\r\n${a}\r\n`);
      sock.write(`*${args.length}\r\n${parts.join('')}`);
    });
  });
}

class RedisServer {
  constructor(port, dir) {
    this.port = port;
    this.dir = dir;
    this.url = `redis://127.0.0.1:${port}`;
    this.proc = null;
    this.output = '';
  }

  get pid() {
    return this.proc?.pid;
  }

  get running() {
    return this.proc !== null && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  // Spawns redis-server on this.port and waits (bounded) for PONG.
  async start() {
    const args = [
      '--port',
      String(this.port),
      '--bind',
      '127.0.0.1',
      '--dir',
      this.dir,
      '--save',
      '',
      '--appendonly',
      'no',
      '--daemonize',
      'no',
      '--protected-mode',
      'no',
      '--logfile',
      '',
    ];
    const proc = spawn(REDIS_BIN, args, { cwd: this.dir, stdio: ['ignore', 'pipe', 'pipe'] });
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
        const hint = err.code === 'ENOENT' ? ` (${REDIS_BIN} not found: install redis-server)` : '';
        reject(new Error(`cannot start ${REDIS_BIN}${hint}: ${err.message}`));
      });
    });
    running.add(proc);
    proc.once('exit', () => running.delete(proc));
    try {
      await waitFor(
        async () => {
          if (!this.running) {
            throw Object.assign(new Error(`redis-server exited early:\n${this.output}`), { fatal: true });
          }
          return (await this.ping()) === '+PONG\r\n';
        },
        { timeoutMs: START_TIMEOUT_MS, what: `PONG from redis-server on port ${this.port}` },
      );
    } catch (err) {
      proc.kill('SIGKILL');
      throw err;
    }
    return this;
  }

  ping() {
    return redisCommand(this.port, ['PING'], { timeoutMs: 500 });
  }

  command(...args) {
    return redisCommand(this.port, args);
  }

  async #terminate(signal) {
    if (!this.running) return;
    this.proc.kill(signal);
    let timer;
    const timeout = new Promise((resolve) => {
      timer = setTimeout(() => resolve('timeout'), STOP_TIMEOUT_MS);
    });
    const result = await Promise.race([this.exited, timeout]).finally(() => clearTimeout(timer));
    if (result === 'timeout') {
      this.proc.kill('SIGKILL');
      await this.exited;
    }
  }

  // Gone at once, like a crash: SIGKILL.
  kill() {
    return this.#terminate('SIGKILL');
  }

  stop() {
    return this.#terminate('SIGTERM');
  }

  // A fresh, empty server on the same port.
  async restart() {
    await this.stop();
    return this.start();
  }
}

// Starts redis-server on a free loopback port (or `port`) in a temp dir.
export async function startRedis({ port } = {}) {
  const server = new RedisServer(port ?? (await freePort()), tempDir('sluice-redis-'));
  return server.start();
}
