// A mock OpenAI upstream: a node http server that answers with the recorded
// wire data in fixtures/openai/, records every request it receives, and can be
// told per test to answer a status + body, hang before the first byte (or
// right after the response head), reset the connection (at once or in the
// middle of a stream), stream slowly, stream N tokens at a set pace, or flood
// a stream while honouring backpressure.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';

import { FIXTURES_DIR, sleep, waitFor } from './gateway.mjs';

export function fixture(rel) {
  return readFileSync(path.join(FIXTURES_DIR, 'openai', rel));
}

export function fixtureJson(rel) {
  return JSON.parse(fixture(rel).toString('utf8'));
}

// vercel-ai *.chunks.txt hold one payload per line with the SSE framing
// stripped; this restores it (data: prefix, blank line, final [DONE]).
export function chunksTxtToSse(text) {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  return Buffer.from(lines.map((l) => `data: ${l}\n\n`).join('') + 'data: [DONE]\n\n');
}

// Recorded streams by short name.
export const STREAMS = {
  text: 'openai-python/plain-text_weather-sf.sse',
  tools: 'openai-python/tool_calls_parallel_two_tools.sse',
  jsonSchema: 'openai-python/response_format-json_schema.sse',
};

export function streamFixture(name) {
  if (name === 'vercelText') return chunksTxtToSse(fixture('vercel-ai/openai-text.chunks.txt').toString('utf8'));
  return fixture(STREAMS[name] || name);
}

// Splits `buf` into `n` pieces at offsets that do not line up with SSE event
// boundaries (one lands inside a line, one close to a "\n\n").
function splitPoints(buf, n) {
  const cuts = [];
  for (let i = 1; i < n; i++) {
    let at = Math.floor((buf.length * i) / n) + (i % 2 ? 7 : -3);
    at = Math.max(1, Math.min(buf.length - 1, at));
    if (!cuts.includes(at) && (cuts.length === 0 || at > cuts[cuts.length - 1])) cuts.push(at);
  }
  const pieces = [];
  let prev = 0;
  for (const c of cuts) {
    pieces.push(buf.subarray(prev, c));
    prev = c;
  }
  pieces.push(buf.subarray(prev));
  return pieces;
}

const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  'openai-processing-ms': '213',
  'x-request-id': 'req_mockupstream0001',
};

function openaiError(status, message, type, code = null, param = null) {
  return { status, json: { error: { message, type, param, code } } };
}

// One chunk of the flood stream, shaped like the recorded chunks.
function floodChunk(seq, filler) {
  const content = `#${String(seq).padStart(7, '0')}:${filler}`;
  return (
    'data: {"id":"chatcmpl-flood","object":"chat.completion.chunk","created":1727346168,' +
    '"model":"gpt-4o-2024-08-06","system_fingerprint":"fp_5050236cbd","choices":[{"index":0,' +
    `"delta":{"content":${JSON.stringify(content)}},"logprobs":null,"finish_reason":null}]}\n\n`
  );
}

// A chat stream of `count` one-token chunks in OpenAI's format, ending with
// the usage chunk (completion_tokens = count) and [DONE]: its pace sets the
// time per output token the gateway measures.
export function tokenStreamEvents(count, model = 'gpt-4o-2024-08-06') {
  const head = `{"id":"chatcmpl-tokens","object":"chat.completion.chunk","created":1727346168,"model":"${model}",`;
  const events = [];
  for (let i = 0; i < count; i++) {
    const delta = i === 0 ? '{"role":"assistant","content":"t0 "}' : `{"content":"t${i} "}`;
    events.push(`data: ${head}"choices":[{"index":0,"delta":${delta},"logprobs":null,"finish_reason":null}]}\n\n`);
  }
  events.push(`data: ${head}"choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]}\n\n`);
  events.push(
    `data: ${head}"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":${count},"total_tokens":${count + 9}}}\n\n`,
  );
  events.push('data: [DONE]\n\n');
  return events;
}

export class OpenAIUpstream {
  constructor(name = 'upstream') {
    this.name = name;
    this.requests = [];
    this.queue = []; // one-shot behaviours, used in order
    this.behaviour = null; // persistent behaviour; null = the default replies
    this.open = new Set(); // sockets, for close()
    this.hung = new Set(); // responses held open by {hang: true}
    this.flood = null; // stats of the last flood stream
    this.server = http.createServer((req, res) => this.onRequest(req, res));
    this.server.keepAliveTimeout = 30000;
    this.server.on('connection', (sock) => {
      this.open.add(sock);
      sock.on('close', () => this.open.delete(sock));
    });
    this.connections = 0;
    this.server.on('connection', () => this.connections++);
  }

  async listen() {
    await new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', resolve);
    });
    this.port = this.server.address().port;
    this.origin = `http://127.0.0.1:${this.port}`;
    this.url = `${this.origin}/v1`;
    return this;
  }

  // Every later request gets `spec` (until reset()).
  always(spec) {
    this.behaviour = spec;
  }

  // The next request gets `spec`; queued specs are used before always().
  once(spec) {
    this.queue.push(spec);
  }

  reset() {
    this.requests = [];
    this.queue = [];
    this.behaviour = null;
    this.flood = null;
    for (const res of this.hung) res.destroy();
    this.hung.clear();
  }

  last() {
    return this.requests[this.requests.length - 1];
  }

  waitForRequests(n, timeoutMs = 10000) {
    return waitFor(() => this.requests.length >= n, { timeoutMs, what: `${n} upstream request(s)` });
  }

  async close() {
    for (const res of this.hung) res.destroy();
    for (const sock of this.open) sock.destroy();
    await new Promise((resolve) => this.server.close(resolve));
  }

  onRequest(req, res) {
    const parts = [];
    req.on('data', (d) => parts.push(d));
    req.on('end', () => {
      const raw = Buffer.concat(parts).toString('utf8');
      let body = null;
      try {
        body = raw ? JSON.parse(raw) : null;
      } catch {
        body = null;
      }
      const record = {
        method: req.method,
        path: req.url,
        headers: { ...req.headers },
        rawBody: raw,
        body,
        at: Date.now(),
      };
      this.requests.push(record);
      const spec = this.queue.length ? this.queue.shift() : this.behaviour;
      this.answer(spec || this.defaultSpec(record), req, res, record).catch((err) => {
        res.destroy(err);
      });
    });
  }

  // Real OpenAI answers, from the recordings, for each endpoint.
  defaultSpec(record) {
    const p = record.path.split('?')[0];
    if (record.method === 'POST' && p === '/v1/chat/completions') {
      if (record.body?.stream === true) return { sse: 'text', writes: 4 };
      return { status: 200, json: fixtureJson('vercel-ai/openai-text.json') };
    }
    if (record.method === 'POST' && p === '/v1/completions') {
      return { status: 200, json: fixtureJson('openai-openapi/completions.json') };
    }
    if (record.method === 'POST' && p === '/v1/embeddings') {
      const json = fixtureJson('openai-openapi/embeddings.json');
      if (record.body?.encoding_format === 'base64') {
        // What OpenAI sends for base64: little-endian float32 bytes.
        for (const d of json.data) {
          d.embedding = Buffer.from(new Float32Array(d.embedding).buffer).toString('base64');
        }
      }
      return { status: 200, json };
    }
    if (record.method === 'GET' && p === '/v1/models') {
      return {
        status: 200,
        json: {
          object: 'list',
          data: [{ id: 'gpt-4o', object: 'model', created: 1686935002, owned_by: 'system' }],
        },
      };
    }
    return openaiError(404, `Invalid URL (${record.method} ${p})`, 'invalid_request_error');
  }

  async answer(spec, req, res, record) {
    if (typeof spec === 'function') spec = spec(record);
    if (spec.delayMs) await sleep(spec.delayMs);
    if (spec.hang) {
      // Never answer; the gateway's timeout (or close()) ends it.
      this.hung.add(res);
      res.on('close', () => this.hung.delete(res));
      return;
    }
    const reset = () => {
      const sock = req.socket;
      if (typeof sock.resetAndDestroy === 'function') sock.resetAndDestroy();
      else sock.destroy();
    };
    if (spec.reset) return reset();
    if (spec.hangAfterHead) {
      // The head goes out, then nothing: a first token that never comes.
      const sse = record.body?.stream === true;
      res.writeHead(200, sse ? SSE_HEADERS : { 'content-type': 'application/json' });
      res.flushHeaders();
      this.hung.add(res);
      res.on('close', () => this.hung.delete(res));
      return;
    }
    if (spec.tokens) {
      // {tokens: {count, gapMs}}: one chunk per token, gapMs apart.
      res.writeHead(200, SSE_HEADERS);
      const events = tokenStreamEvents(spec.tokens.count);
      for (let i = 0; i < events.length; i++) {
        if (res.destroyed) return;
        res.write(events[i]);
        if (spec.tokens.gapMs && i + 1 < spec.tokens.count) await sleep(spec.tokens.gapMs);
      }
      res.end();
      return;
    }
    if (spec.flood) return this.answerFlood(spec.flood, res);
    if (spec.sse !== undefined) {
      const buf = Buffer.isBuffer(spec.sse) ? spec.sse : streamFixture(spec.sse);
      res.writeHead(spec.status || 200, { ...SSE_HEADERS, ...(spec.headers || {}) });
      const pieces = splitPoints(buf, spec.writes || 4);
      for (let i = 0; i < pieces.length; i++) {
        if (res.destroyed) return;
        // {resetAfter: k}: the connection breaks after k pieces went out.
        if (spec.resetAfter !== undefined && i === spec.resetAfter) {
          await sleep(spec.gapMs ?? 5);
          return reset();
        }
        res.write(pieces[i]);
        if (i + 1 < pieces.length) await sleep(spec.gapMs ?? 5);
      }
      res.end();
      return;
    }
    const payload = spec.text !== undefined ? Buffer.from(spec.text) : Buffer.from(JSON.stringify(spec.json ?? {}));
    res.writeHead(spec.status || 200, {
      'content-type': spec.text !== undefined ? 'text/plain' : 'application/json',
      'x-request-id': 'req_mockupstream0001',
      ...(spec.headers || {}),
    });
    res.end(payload);
  }

  // Streams about `bytes` of chat chunks as fast as the gateway reads them,
  // waiting for 'drain' whenever write() says the buffer is full. Progress is
  // in this.flood: {written, chunks, blockedSince, finished, aborted}.
  async answerFlood({ bytes, chunkContentBytes = 1000, batchBytes = 64 * 1024 }, res) {
    const stats = { written: 0, chunks: 0, blockedSince: null, finished: false, aborted: false, target: bytes };
    this.flood = stats;
    res.on('close', () => {
      if (!stats.finished) stats.aborted = true;
    });
    res.writeHead(200, SSE_HEADERS);
    const filler = 'x'.repeat(chunkContentBytes);
    const write = async (text) => {
      if (res.destroyed) throw new Error('flood: client went away');
      if (!res.write(text)) {
        stats.blockedSince = Date.now();
        await new Promise((resolve) => {
          const done = () => {
            res.off('drain', done);
            res.off('close', done);
            resolve();
          };
          res.on('drain', done);
          res.on('close', done);
        });
        stats.blockedSince = null;
      }
      stats.written += Buffer.byteLength(text);
    };
    try {
      await write(
        'data: {"id":"chatcmpl-flood","object":"chat.completion.chunk","created":1727346168,' +
          '"model":"gpt-4o-2024-08-06","system_fingerprint":"fp_5050236cbd","choices":[{"index":0,' +
          '"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}\n\n',
      );
      let batch = '';
      while (stats.written + batch.length < bytes) {
        batch += floodChunk(stats.chunks, filler);
        stats.chunks++;
        if (batch.length >= batchBytes) {
          await write(batch);
          batch = '';
        }
      }
      batch +=
        'data: {"id":"chatcmpl-flood","object":"chat.completion.chunk","created":1727346168,' +
        '"model":"gpt-4o-2024-08-06","system_fingerprint":"fp_5050236cbd","choices":[{"index":0,' +
        '"delta":{},"logprobs":null,"finish_reason":"stop"}]}\n\n' +
        'data: {"id":"chatcmpl-flood","object":"chat.completion.chunk","created":1727346168,' +
        '"model":"gpt-4o-2024-08-06","system_fingerprint":"fp_5050236cbd","choices":[],' +
        `"usage":{"prompt_tokens":9,"completion_tokens":${stats.chunks},"total_tokens":${stats.chunks + 9}}}\n\n` +
        'data: [DONE]\n\n';
      await write(batch);
      stats.finished = true;
      res.end();
    } catch {
      stats.aborted = true;
    }
  }
}

export async function startOpenAIUpstream(name) {
  return new OpenAIUpstream(name).listen();
}
