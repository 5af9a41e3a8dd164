// Opens many concurrent SSE chat streams through a gateway and reports the
// resident memory (VmRSS) of a process while they are all open and flowing.
//
//   node bench/stream_clients.mjs --url URL --pid PID [--count 2000] [--body FILE]
//        [--timeout-s 120] [--batch 200]
//
// Exits 0 only when every stream opened (HTTP 200 and a first event) and was
// still receiving events when memory was measured.
import fs from 'node:fs';
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';

function parseArgs(argv) {
  const args = { count: 2000, timeoutS: 120, batch: 200, body: null, url: null, pid: null };
  for (let i = 2; i < argv.length; i += 2) {
    const key = argv[i];
    const value = argv[i + 1];
    if (value === undefined) throw new Error(`missing value for ${key}`);
    if (key === '--url') args.url = value;
    else if (key === '--pid') args.pid = Number(value);
    else if (key === '--count') args.count = Number(value);
    else if (key === '--body') args.body = value;
    else if (key === '--timeout-s') args.timeoutS = Number(value);
    else if (key === '--batch') args.batch = Number(value);
    else throw new Error(`unknown option ${key}`);
  }
  if (!args.url || !args.pid) throw new Error('--url and --pid are required');
  return args;
}

function rssKb(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+) kB/m.exec(status);
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]);
}

const args = parseArgs(process.argv);
const request = args.body
  ? JSON.parse(fs.readFileSync(args.body, 'utf8'))
  : { model: 'bench/gpt-4o-mini', messages: [{ role: 'user', content: 'Say hello.' }] };
request.stream = true;
const payload = JSON.stringify(request);

const deadline = setTimeout(() => {
  console.error(`stream_clients: gave up after ${args.timeoutS} s`);
  report();
  process.exit(1);
}, args.timeoutS * 1000);

const streams = [];
let opened = 0;
let failed = 0;
const errors = new Map();

function fail(stream, why) {
  if (stream.failed) return;
  stream.failed = true;
  failed++;
  errors.set(why, (errors.get(why) || 0) + 1);
}

// Resolves once the stream has its first event (or has failed).
function openStream() {
  return new Promise((resolve) => {
    const stream = { lastEventAt: 0, opened: false, ended: false, failed: false };
    streams.push(stream);
    const req = http.request(args.url, {
      method: 'POST',
      agent: false,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
    });
    stream.req = req;
    req.on('response', (res) => {
      if (res.statusCode !== 200) {
        fail(stream, `HTTP ${res.statusCode}`);
        res.resume();
        resolve();
        return;
      }
      res.on('data', () => {
        stream.lastEventAt = Date.now();
        if (!stream.opened) {
          stream.opened = true;
          opened++;
          resolve();
        }
      });
      res.on('end', () => {
        stream.ended = true;
      });
      res.on('error', () => {});
    });
    req.on('error', (err) => {
      if (!stream.closing) fail(stream, err.code || err.message);
      resolve();
    });
    req.end(payload);
  });
}

let idleKb = 0;
let openKb = 0;
let flowing = 0;

function report() {
  console.log(`streams: ${args.count} requested, ${opened} opened, ${failed} failed` +
    (errors.size ? ` (${[...errors].map(([k, v]) => `${k}: ${v}`).join(', ')})` : ''));
  if (openKb) {
    const perStream = opened ? (openKb - idleKb) / opened : 0;
    console.log(`still flowing when measured: ${flowing}`);
    console.log(`VmRSS idle: ${(idleKb / 1024).toFixed(1)} MiB; with ${opened} open streams: ` +
      `${(openKb / 1024).toFixed(1)} MiB (+${perStream.toFixed(1)} KiB per stream)`);
  }
}

idleKb = rssKb(args.pid);
for (let i = 0; i < args.count; i += args.batch) {
  const batch = [];
  for (let j = i; j < Math.min(args.count, i + args.batch); j++) batch.push(openStream());
  await Promise.all(batch);
}

// Let every stream deliver a few more events, then measure: the highest of a
// few samples, and how many streams are still receiving.
await sleep(2000);
const since = Date.now();
for (let k = 0; k < 5; k++) {
  openKb = Math.max(openKb, rssKb(args.pid));
  await sleep(400);
}
const window = Date.now() - since + 2000;
flowing = streams.filter((s) => s.opened && !s.ended && Date.now() - s.lastEventAt < window).length;
clearTimeout(deadline);
report();
for (const s of streams) {
  s.closing = true;
  s.req.destroy();
}
process.exit(opened === args.count && flowing === args.count ? 0 : 1);
