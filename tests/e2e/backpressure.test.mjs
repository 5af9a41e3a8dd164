// A slow reader must not make the gateway buffer the upstream's stream: the
// upstream floods a large SSE stream, the client stops reading, and the
// gateway's memory stays bounded while the upstream is held back by TCP
// backpressure. Then the client reads everything and checks nothing was lost.
import assert from 'node:assert/strict';
import http from 'node:http';
import { test } from 'node:test';

import { sleep, waitFor, withDeadline, withLogs } from './lib/gateway.mjs';
import { postJson } from './lib/http.mjs';
import { gatewaySuite } from './lib/suite.mjs';

// Under AddressSanitizer freed memory sits in a quarantine (256 MB by
// default) that counts as RSS; keep it small here so RSS measures buffering.
// A later quarantine_size_mb in the caller's ASAN_OPTIONS still wins.
const asanOptions = ['quarantine_size_mb=8', process.env.ASAN_OPTIONS].filter(Boolean).join(':');
const ctx = gatewaySuite(undefined, { env: { ASAN_OPTIONS: asanOptions } });

const FLOOD_BYTES = 128 * 1024 * 1024;
const RSS_HEADROOM = 64 * 1024 * 1024;
const MB = 1024 * 1024;

// Reads an SSE chat stream incrementally; checks the flood's sequence numbers.
class StreamChecker {
  constructor() {
    this.pending = '';
    this.next = 0; // next expected sequence number
    this.bytes = 0;
    this.done = false;
    this.usageChunks = 0;
    this.finish = null;
  }

  push(text) {
    this.bytes += Buffer.byteLength(text);
    this.pending += text;
    let at;
    while ((at = this.pending.search(/\r?\n\r?\n/)) >= 0) {
      const block = this.pending.slice(0, at);
      this.pending = this.pending.slice(at).replace(/^\r?\n\r?\n/, '');
      this.event(block);
    }
  }

  event(block) {
    const data = block
      .split(/\r?\n/)
      .filter((l) => l.startsWith('data:'))
      .map((l) => l.slice(5).replace(/^ /, ''))
      .join('\n');
    if (data === '') return;
    assert.ok(!this.done, 'nothing after [DONE]');
    if (data === '[DONE]') {
      this.done = true;
      return;
    }
    const chunk = JSON.parse(data);
    if (chunk.choices.length === 0) {
      this.usageChunks++;
      return;
    }
    const choice = chunk.choices[0];
    if (choice.finish_reason) this.finish = choice.finish_reason;
    const content = choice.delta?.content;
    if (!content) return;
    const m = /^#(\d{7}):x+$/.exec(content);
    assert.ok(m, `chunk content shape: ${content.slice(0, 40)}`);
    assert.equal(Number(m[1]), this.next, 'chunks arrive complete and in order');
    this.next++;
  }
}

test(
  'slow reader: gateway RSS stays bounded while backpressure holds the upstream',
  { timeout: 240000 },
  withLogs(async (t) => {
    const { up, gw } = ctx;
    // Warm up (first request allocates pools, TLS contexts, plugin state).
    for (let i = 0; i < 3; i++) {
      const r = await postJson(`${gw.url}/v1/chat/completions`, {
        model: 'up/gpt-4o',
        messages: [{ role: 'user', content: 'hi' }],
      });
      assert.equal(r.status, 200);
    }
    const baseline = gw.rssBytes();
    let maxRss = baseline;
    const sampler = setInterval(() => {
      try {
        maxRss = Math.max(maxRss, gw.rssBytes());
      } catch {
        // process gone; the assertions below report it
      }
    }, 20);

    up.always({ flood: { bytes: FLOOD_BYTES } });
    const checker = new StreamChecker();
    let res;
    let ended;
    try {
      res = await new Promise((resolve, reject) => {
        const body = JSON.stringify({
          model: 'up/gpt-4o',
          messages: [{ role: 'user', content: 'flood me' }],
          stream: true,
        });
        const req = http.request(
          {
            host: '127.0.0.1',
            port: gw.port,
            path: '/v1/chat/completions',
            method: 'POST',
            agent: false,
            headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
          },
          (r) => {
            r.pause();
            resolve(r);
          },
        );
        req.on('error', reject);
        req.setTimeout(20000, () => req.destroy(new Error('no response head in 20 s')));
        req.end(body);
      });
      assert.equal(res.statusCode, 200);
      res.setEncoding('utf8');
      ended = new Promise((resolve, reject) => {
        res.on('data', (d) => {
          try {
            checker.push(d);
          } catch (err) {
            res.destroy();
            reject(err);
          }
        });
        res.on('end', resolve);
        res.on('error', reject);
        res.on('aborted', () => reject(new Error('response aborted')));
      });
      ended.catch(() => {}); // awaited below; a failure before that surfaces there

      // 1. The client reads nothing: the upstream must end up stalled.
      await waitFor(() => up.flood && up.flood.blockedSince !== null && Date.now() - up.flood.blockedSince >= 1000, {
        timeoutMs: 60000,
        intervalMs: 50,
        what: 'the upstream to be held back by backpressure',
      });
      const stalledAt = up.flood.written;
      t.diagnostic(`upstream stalled after ${(stalledAt / MB).toFixed(1)} MB`);
      // Stay stalled for a while and keep sampling memory.
      await sleep(1500);
      assert.ok(up.flood.blockedSince !== null, 'upstream still blocked');
      assert.equal(up.flood.written, stalledAt, 'upstream wrote nothing more while the client was paused');
      assert.ok(
        stalledAt < FLOOD_BYTES / 2,
        `upstream stalled after ${(stalledAt / MB).toFixed(1)} MB of ${FLOOD_BYTES / MB} MB`,
      );
      assert.ok(
        maxRss - baseline < RSS_HEADROOM,
        `gateway RSS grew ${((maxRss - baseline) / MB).toFixed(1)} MB (baseline ${(baseline / MB).toFixed(1)} MB)`,
      );

      // 2. Very slow reading: short bursts, long pauses.
      for (let i = 0; i < 10; i++) {
        res.resume();
        await sleep(10);
        res.pause();
        await sleep(150);
      }
      assert.ok(checker.next > 0, 'some chunks arrived during slow reading');
      assert.ok(!up.flood.finished, 'upstream not finished while the client reads slowly');
      assert.ok(
        maxRss - baseline < RSS_HEADROOM,
        `gateway RSS grew ${((maxRss - baseline) / MB).toFixed(1)} MB during slow reading`,
      );

      // 3. Read everything: every chunk, in order, then [DONE].
      res.resume();
      await withDeadline(ended, 180000, 'the stream did not end');
    } finally {
      clearInterval(sampler);
      res?.destroy();
    }
    t.diagnostic(
      `gateway RSS baseline ${(baseline / MB).toFixed(1)} MB, peak +${((maxRss - baseline) / MB).toFixed(1)} MB`,
    );
    assert.ok(up.flood.finished, 'upstream sent the whole flood');
    assert.equal(checker.next, up.flood.chunks, 'every flood chunk reached the client');
    assert.equal(checker.finish, 'stop');
    assert.equal(checker.usageChunks, 0, 'client did not ask for usage');
    assert.ok(checker.done, 'stream ended with [DONE]');
    assert.ok(
      maxRss - baseline < RSS_HEADROOM,
      `gateway RSS grew ${((maxRss - baseline) / MB).toFixed(1)} MB over the whole stream`,
    );
    assert.equal(up.last().body.stream_options?.include_usage, true);
  }),
);

test(
  'client disconnect mid-stream cancels the upstream request',
  withLogs(async () => {
    const { up, gw } = ctx;
    up.always({ flood: { bytes: FLOOD_BYTES } });
    const res = await new Promise((resolve, reject) => {
      const body = JSON.stringify({
        model: 'up/gpt-4o',
        messages: [{ role: 'user', content: 'flood me' }],
        stream: true,
      });
      const req = http.request(
        {
          host: '127.0.0.1',
          port: gw.port,
          path: '/v1/chat/completions',
          method: 'POST',
          agent: false,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        },
        resolve,
      );
      req.on('error', reject);
      req.end(body);
    });
    assert.equal(res.statusCode, 200);
    res.pause();
    await waitFor(() => up.flood && up.flood.written > 0, { what: 'the flood to start' });
    res.destroy();
    await waitFor(() => up.flood.aborted, { timeoutMs: 10000, what: 'the gateway to close the upstream stream' });
    assert.ok(!up.flood.finished);

    up.reset();
    const after = await postJson(`${gw.url}/v1/chat/completions`, {
      model: 'up/gpt-4o',
      messages: [{ role: 'user', content: 'hi' }],
    });
    assert.equal(after.status, 200);
  }),
);
