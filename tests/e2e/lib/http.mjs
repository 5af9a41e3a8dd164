// Small HTTP client helpers for assertions on raw status, headers and bodies:
// node:http requests with a deadline, curl through child_process, SSE parsing.
import { execFile } from 'node:child_process';
import http from 'node:http';

// One request; resolves {status, headers, text, json, reusedSocket, localPort}. Rejects on
// a socket error or when no full response arrives within `timeoutMs`.
export function request(url, { method = 'GET', headers = {}, body, agent = false, timeoutMs = 15000 } = {}) {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    // An array body is written piece by piece (with transfer-encoding: chunked).
    const pieces = body === undefined ? [] : (Array.isArray(body) ? body : [body]).map((b) => Buffer.from(b));
    const payload = body === undefined ? undefined : Buffer.concat(pieces);
    const hdrs = { ...headers };
    const framed = Object.keys(hdrs).some((k) => ['content-length', 'transfer-encoding'].includes(k.toLowerCase()));
    if (payload !== undefined && !framed) {
      hdrs['content-length'] = String(payload.length);
    }
    const req = http.request(
      { hostname: u.hostname, port: u.port, path: u.pathname + u.search, method, headers: hdrs, agent },
      (res) => {
        const localPort = res.socket?.localPort;
        const parts = [];
        res.on('data', (d) => parts.push(d));
        res.on('error', reject);
        res.on('end', () => {
          clearTimeout(timer);
          const text = Buffer.concat(parts).toString('utf8');
          let json;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({
            status: res.statusCode,
            headers: res.headers,
            text,
            json,
            reusedSocket: req.reusedSocket,
            localPort,
          });
        });
      },
    );
    const timer = setTimeout(
      () => req.destroy(new Error(`no response from ${method} ${url} in ${timeoutMs} ms`)),
      timeoutMs,
    );
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    for (const piece of pieces) req.write(piece);
    req.end();
  });
}

export function postJson(url, obj, opts = {}) {
  return request(url, {
    ...opts,
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(opts.headers || {}) },
    body: typeof obj === 'string' ? obj : JSON.stringify(obj),
  });
}

// Runs curl; resolves {status, headers (lower-case names), body}. `args` go
// before the URL (e.g. ['-X', 'POST', '-d', json]).
export function curl(url, args = [], { timeoutMs = 15000 } = {}) {
  return new Promise((resolve, reject) => {
    execFile(
      'curl',
      ['-sS', '-i', '--max-time', String(Math.ceil(timeoutMs / 1000)), ...args, url],
      { maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' },
      (err, stdout, stderr) => {
        if (err) {
          reject(new Error(`curl failed (${err.code}): ${stderr}`));
          return;
        }
        resolve(parseCurlOutput(stdout));
      },
    );
  });
}

function parseCurlOutput(out) {
  let rest = out;
  for (;;) {
    const end = rest.indexOf('\r\n\r\n');
    if (end < 0) throw new Error(`no header block in curl output: ${out.slice(0, 200)}`);
    const head = rest.slice(0, end).split('\r\n');
    rest = rest.slice(end + 4);
    const status = Number(/^HTTP\/[\d.]+ (\d{3})/.exec(head[0])?.[1]);
    if (status === 100) continue;
    const headers = {};
    for (const line of head.slice(1)) {
      const i = line.indexOf(':');
      const name = line.slice(0, i).trim().toLowerCase();
      const value = line.slice(i + 1).trim();
      headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
    }
    return { status, headers, body: rest };
  }
}

// Parses an SSE body into events: [{event, data}] where data joins the
// event's data lines with "\n". Accepts LF, CRLF and CR line ends.
export function parseSse(text) {
  const events = [];
  let data = [];
  let event = null;
  for (const line of text.split(/\r\n|\r|\n/)) {
    if (line === '') {
      if (data.length) events.push({ event, data: data.join('\n') });
      data = [];
      event = null;
      continue;
    }
    if (line.startsWith(':')) continue;
    const i = line.indexOf(':');
    const field = i < 0 ? line : line.slice(0, i);
    let value = i < 0 ? '' : line.slice(i + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') data.push(value);
    else if (field === 'event') event = value;
  }
  if (data.length) events.push({ event, data: data.join('\n') });
  return events;
}

// The JSON chunks of an OpenAI chat stream body, and whether it ended with [DONE].
export function parseChatStream(text) {
  const events = parseSse(text);
  const done = events.length > 0 && events[events.length - 1].data === '[DONE]';
  const chunks = events.filter((e) => e.data !== '[DONE]').map((e) => JSON.parse(e.data));
  return { chunks, done, events };
}

// Concatenated delta.content of choice `index` over a list of chunks.
export function streamText(chunks, index = 0) {
  let text = '';
  for (const c of chunks) {
    for (const choice of c.choices || []) {
      if (choice.index === index && typeof choice.delta?.content === 'string') text += choice.delta.content;
    }
  }
  return text;
}

// Rebuilds tool calls from stream deltas the way OpenAI clients do.
export function streamToolCalls(chunks, index = 0) {
  const calls = [];
  for (const c of chunks) {
    for (const choice of c.choices || []) {
      if (choice.index !== index) continue;
      for (const d of choice.delta?.tool_calls || []) {
        const call = (calls[d.index] ||= { id: '', type: '', function: { name: '', arguments: '' } });
        if (d.id) call.id = d.id;
        if (d.type) call.type = d.type;
        if (d.function?.name) call.function.name += d.function.name;
        if (d.function?.arguments) call.function.arguments += d.function.arguments;
      }
    }
  }
  return calls;
}
