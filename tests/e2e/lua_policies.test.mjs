// Lua policies on the real binary: the shipped scripts in scripts/lua/
// (require a ticket in production, route by workflow, tag the cost centre,
// forbid models per environment), on_response headers and on_log records,
// a runaway script failing only its own request, script errors stopping
// `sluice validate` and `serve`, and scripts reloading with the manifest
// (SIGHUP), a broken one keeping the old.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import OpenAI from 'openai';

import {
  SOURCE_DIR,
  runSluice,
  startGateway,
  tempDir,
  waitFor,
  withLogs,
  writeManifest,
} from './lib/gateway.mjs';
import {
  assertApiError,
  chat,
  credential,
  governanceManifest,
  mockProvider,
  rateCounter,
  waitForLimits,
} from './lib/governance.mjs';
import { parseChatStream, postJson } from './lib/http.mjs';
import { fixtureJson, startOpenAIUpstream } from './lib/openai_upstream.mjs';

const EXAMPLES = path.join(SOURCE_DIR, 'scripts', 'lua');
const example = (name) => path.join(EXAMPLES, name);

// A script written to its own temp dir; returns its path.
function script(name, source) {
  const file = path.join(tempDir('sluice-lua-'), name);
  writeFileSync(file, source);
  return file;
}

// Lines of the gateway's log that mention `needle`.
function logLines(gw, needle) {
  return gw.stderr.split('\n').filter((l) => l.includes(needle));
}

const alice = credential('alice'); // team payments
const bob = credential('bob'); // team research
const checkout = credential('checkout'); // team payments, environment production
const carol = credential('carol'); // may use openai-main models only

// ------------------------------------------------------------ the examples

describe('shipped example policies', () => {
  let up;
  let gw;
  const usage = fixtureJson('vercel-ai/openai-text.json').usage;

  // Test-only hooks beside the examples: what on_response and on_log see.
  const probe = script(
    'probe.lua',
    `function on_response(req, res)
  res.set_header('x-policy-status', res.status .. ' ' .. tostring(res.usage and res.usage.prompt_tokens))
  res.set_header('x-saw-authorization', tostring(req.headers.authorization))
  if req.headers['x-probe'] then res:set_header('x-probe-echo', req.headers['x-probe']) end
end
function on_log(req, record)
  sluice.log('info', 'logged ' .. record.id .. ' status=' .. record.status .. ' model=' ..
    tostring(record.resolved_model) .. ' cost_center=' .. tostring(record.metadata.cost_center) ..
    ' prompt_tokens=' .. record.usage.prompt_tokens)
end
`,
  );

  before(async () => {
    up = await startOpenAIUpstream();
    gw = await startGateway(
      governanceManifest({
        providers: [
          {
            name: 'openai-main',
            type: 'openai',
            base_url: up.url,
            auth: { bearer: 'sk-upstream' },
            models: ['gpt-4o', 'gpt-4o-mini'],
          },
          {
            name: 'on-prem',
            type: 'openai-compatible',
            base_url: up.url,
            models: [{ name: 'llama-3.1-70b', upstream_name: 'meta-llama/Llama-3.1-70B-Instruct' }],
          },
        ],
        auth: {
          teams: [
            { name: 'payments', members: ['alice@example.com'] },
            { name: 'research', members: ['bob@example.com'] },
          ],
          users: [
            { email: 'alice@example.com', token_sha256: alice.sha256, models: ['*'] },
            { email: 'bob@example.com', token_sha256: bob.sha256, models: ['*'] },
            { email: 'carol@example.com', token_sha256: carol.sha256, models: ['openai-main/*'] },
          ],
          virtual_accounts: [
            {
              name: 'checkout',
              token_sha256: checkout.sha256,
              team: 'payments',
              models: ['*'],
              metadata: { environment: 'production' },
            },
          ],
        },
        // Counts per cost centre: the tag the policy adds is request metadata.
        rate_limits: [
          { id: 'per-cost-center', limit_to: 1000, unit: 'requests_per_minute', applies_per: ['metadata.cost_center'] },
        ],
        policies: [
          { script: example('route_by_workflow.lua') },
          { script: example('forbid_models.lua') },
          { script: example('require_ticket.lua'), hooks: ['on_request', 'on_response'] }, // as in DESIGN §5
          { script: example('cost_center.lua') },
          { script: probe },
        ],
      }),
    );
  });
  after(async () => {
    const exit = await gw?.stop();
    await up?.close();
    assert.deepEqual(exit, { code: 0, signal: null });
  });

  test(
    'require_ticket: production without a ticket is refused with an OpenAI-shaped 400',
    withLogs(async () => {
      const res = await chat(gw, { token: checkout.token, model: 'openai-main/gpt-4o-mini' });
      assertApiError(res, 400, {
        type: 'invalid_request_error',
        code: 'policy_rejected',
        param: null,
        message: 'ticket_id is required in production',
      });
      assert.match(res.headers['x-sluice-request-id'], /^req_/);
      assert.equal(up.requests.length, 0, 'nothing reached the provider');

      // The official SDK sees the same error.
      const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: checkout.token, maxRetries: 0 });
      await assert.rejects(
        client.chat.completions.create({ model: 'openai-main/gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
        (err) => err.status === 400 && err.code === 'policy_rejected' && /ticket_id is required/.test(err.message),
      );

      const ok = await chat(gw, {
        token: checkout.token,
        model: 'openai-main/gpt-4o-mini',
        metadata: { ticket_id: 'CHG-1234' },
      });
      assert.equal(ok.status, 200, ok.text);
      assert.equal(ok.headers['x-ticket-id'], 'CHG-1234', 'on_response names the ticket');
    }),
  );

  test(
    'route_by_workflow: the workflow picks the model, x-sluice-resolved-model shows it',
    withLogs(async () => {
      const res = await chat(gw, {
        token: alice.token,
        model: 'openai-main/gpt-4o',
        metadata: { workflow: 'repo-understanding' },
      });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.headers['x-sluice-resolved-model'], 'on-prem/llama-3.1-70b');
      assert.equal(res.headers['x-sluice-provider'], 'on-prem');
      assert.equal(up.last().body.model, 'meta-llama/Llama-3.1-70B-Instruct');

      const plain = await chat(gw, { token: alice.token, model: 'openai-main/gpt-4o' });
      assert.equal(plain.headers['x-sluice-resolved-model'], 'openai-main/gpt-4o');

      // The rewritten model passes model access like any other.
      const denied = await chat(gw, {
        token: carol.token,
        model: 'openai-main/gpt-4o',
        metadata: { workflow: 'repo-understanding' },
      });
      assertApiError(denied, 403, {
        code: 'model_not_allowed',
        message: "user:carol@example.com may not use model 'on-prem/llama-3.1-70b'",
      });
    }),
  );

  test(
    'forbid_models: a forbidden model gets 403 naming it; the rewritten model is what counts',
    withLogs(async () => {
      const res = await chat(gw, {
        token: checkout.token,
        model: 'openai-main/gpt-4o',
        metadata: { ticket_id: 'CHG-1' },
      });
      assertApiError(res, 403, {
        type: 'permission_error',
        code: 'model_forbidden',
        message: "model 'openai-main/gpt-4o' is not allowed in production",
      });
      // Outside production the same model is fine.
      assert.equal((await chat(gw, { token: alice.token, model: 'openai-main/gpt-4o' })).status, 200);
      // route_by_workflow runs first: a summarise request is moved off gpt-4o.
      const moved = await chat(gw, {
        token: checkout.token,
        model: 'openai-main/gpt-4o',
        metadata: { ticket_id: 'CHG-1', workflow: 'summarise' },
      });
      assert.equal(moved.status, 200, moved.text);
      assert.equal(moved.headers['x-sluice-resolved-model'], 'openai-main/gpt-4o-mini');
    }),
  );

  test(
    'cost_center: the team tag reaches the provider, the rate-limit counters and the record',
    withLogs(async () => {
      const a = await chat(gw, { token: alice.token, model: 'openai-main/gpt-4o-mini' });
      assert.equal(a.status, 200, a.text);
      assert.equal(up.last().headers['x-cost-center'], 'CC-1001');
      const b = await chat(gw, { token: bob.token, model: 'openai-main/gpt-4o-mini' });
      assert.equal(b.status, 200, b.text);
      assert.equal(up.last().headers['x-cost-center'], 'CC-2002');
      assert.equal(up.last().headers.authorization, 'Bearer sk-upstream', 'the provider key is untouched');

      for (const key of ['metadata.cost_center=CC-1001', 'metadata.cost_center=CC-2002']) {
        await waitForLimits(gw, (l) => rateCounter(l, 'per-cost-center', key), (c) => c.used >= 1, { what: key });
      }
      const id = b.headers['x-sluice-request-id'];
      await waitFor(() => logLines(gw, `logged ${id} `).length === 1, { what: `on_log line for ${id}` });
      assert.match(logLines(gw, `logged ${id} `)[0], /status=200 model=openai-main\/gpt-4o-mini cost_center=CC-2002/);
    }),
  );

  test(
    'on_response sees status and usage, adds headers; req.headers hides the caller key',
    withLogs(async () => {
      const res = await chat(gw, {
        token: alice.token,
        model: 'openai-main/gpt-4o-mini',
        headers: { 'x-probe': 'hello' },
      });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.headers['x-policy-status'], `200 ${usage.prompt_tokens}`);
      assert.equal(res.headers['x-saw-authorization'], 'nil');
      assert.equal(res.headers['x-probe-echo'], 'hello');
      const id = res.headers['x-sluice-request-id'];
      await waitFor(() => logLines(gw, `logged ${id} `).length === 1, { what: `on_log line for ${id}` });
      assert.match(logLines(gw, `logged ${id} `)[0], new RegExp(`prompt_tokens=${usage.prompt_tokens}$`));
    }),
  );

  test(
    'on_response runs on streams before the first byte (usage comes later) and on gateway errors',
    withLogs(async () => {
      const res = await chat(gw, { token: alice.token, model: 'openai-main/gpt-4o-mini', extra: { stream: true } });
      assert.equal(res.status, 200, res.text);
      assert.match(res.headers['content-type'], /^text\/event-stream/);
      assert.equal(res.headers['x-policy-status'], '200 nil');
      const stream = parseChatStream(res.text);
      assert.ok(stream.done && stream.chunks.length > 0, 'the stream went through');

      const unknown = await chat(gw, { token: alice.token, model: 'openai-main/nope' });
      assertApiError(unknown, 404, { code: 'model_not_found' });
    }),
  );
});

// ------------------------------------------------------------ failures

describe('a failing policy', () => {
  let gw;
  const runaway = script(
    'runaway.lua',
    `function on_request(req)
  local mode = req.metadata.mode
  if mode == 'loop' then
    while true do end
  elseif mode == 'bomb' then
    local t = {}
    for i = 1, 1e9 do t[i] = string.rep('x', 100) .. i end
  elseif mode == 'error' then
    error('deliberate failure')
  elseif mode == 'pattern' then
    return string.rep('a', 200000):find('%w+@')
  elseif mode == 'authorization' then
    req.set_upstream_header('Authorization', 'Bearer stolen')
  end
end
`,
  );

  before(async () => {
    gw = await startGateway(
      governanceManifest(
        {
          providers: [mockProvider('mock', ['gpt-4o-mini'], { reply: 'still here' })],
          policies: [{ script: runaway, instruction_budget: 200000, memory_bytes: 1048576 }],
        },
        { workers: 1 },
      ),
    );
  });
  after(async () => {
    assert.deepEqual(await gw?.stop(), { code: 0, signal: null });
  });

  const cases = [
    ['loop', /runaway\.lua:4: instruction budget of 200000 exceeded$/],
    ['bomb', /memory cap of 1048576 bytes exceeded$/],
    ['error', /runaway\.lua:9: deliberate failure$/],
    ['pattern', /runaway\.lua:11: instruction budget of 200000 exceeded$/],
    ['authorization', /req\.set_upstream_header: 'Authorization' is set by the gateway; a policy cannot set it$/],
  ];
  for (const [mode, why] of cases) {
    test(
      `${mode}: 500 policy_error for that request, one log line, the worker serves the next`,
      withLogs(async () => {
        const res = await chat(gw, { model: 'mock/gpt-4o-mini', metadata: { mode } });
        const id = res.headers['x-sluice-request-id'];
        assertApiError(res, 500, {
          type: 'api_error',
          code: 'policy_error',
          message: `policy 'runaway.lua' failed; the gateway log has the details (request ${id})`,
        });
        await waitFor(() => logLines(gw, id).length > 0, { what: `the log line for ${id}` });
        const lines = logLines(gw, id);
        assert.equal(lines.length, 1, lines.join('\n'));
        assert.match(lines[0], new RegExp(` error policy: runaway\\.lua on_request failed for request ${id}: `));
        assert.match(lines[0], why);
        assert.ok(!res.text.includes('runaway.lua:'), 'no script internals in the answer');

        const next = await chat(gw, { model: 'mock/gpt-4o-mini' });
        assert.equal(next.status, 200, next.text);
        assert.match(next.json.choices[0].message.content, /still here/);
      }),
    );
  }
});

// ------------------------------------------------------------ script errors

describe('a script that cannot load', () => {
  const providers = `providers:
  - {name: mock, type: mock, models: [gpt-4o-mini]}
`;

  test('sluice validate names the manifest entry, the script and the line', async () => {
    const bad = script('broken.lua', 'function on_request(req)\n  local x = \nend\n');
    const file = writeManifest(`version: 1
${providers}policies:
  - {script: ${bad}}
`);
    const r = await runSluice(['validate', '-c', file]);
    assert.equal(r.code, 1, r.output);
    assert.match(r.stderr, new RegExp(`${file}:5:5: policies\\[0\\]\\.script: .*broken\\.lua:3: unexpected symbol near 'end'`));
    assert.match(r.stderr, /: 1 error\n/);

    const serve = await runSluice(['serve', '-c', file]);
    assert.equal(serve.code, 1, serve.output);
    assert.match(serve.stderr, /broken\.lua:3: unexpected symbol near 'end'/);
  });

  test('sluice validate refuses bytecode, missing files and missing hooks', async () => {
    const missing = path.join(tempDir('sluice-lua-'), 'missing.lua');
    const nohook = script('nohook.lua', 'function on_request(req) end\n');
    const file = writeManifest(`version: 1
${providers}policies:
  - {script: ${missing}}
  - {script: ${nohook}, hooks: [on_request, on_log]}
  - {script: ${script('dump.luac', '\x1bLuaT\x00')}}
`);
    const r = await runSluice(['validate', '-c', file]);
    assert.equal(r.code, 1, r.output);
    assert.match(r.stderr, /policies\[0\]\.script: cannot read .*missing\.lua: No such file or directory/);
    assert.match(r.stderr, /policies\[1\]\.hooks: on_log is listed but the script defines no function on_log/);
    assert.match(r.stderr, /policies\[2\]\.script: .*dump\.luac: is a binary \(bytecode\) chunk; only Lua source text is accepted/);
    assert.match(r.stderr, /: 3 errors\n/);
  });

});

// ------------------------------------------------------------ reload

describe('reload', () => {
  let gw;
  const versioned = script('versioned.lua', 'function on_request(req) return sluice.reject(418, "version 1") end\n');

  before(async () => {
    gw = await startGateway(
      governanceManifest({
        providers: [mockProvider('mock', ['gpt-4o-mini'])],
        policies: [{ script: versioned }],
      }),
    );
  });
  after(async () => {
    assert.deepEqual(await gw?.stop(), { code: 0, signal: null });
  });

  async function answer() {
    const res = await postJson(`${gw.url}/v1/chat/completions`, {
      model: 'mock/gpt-4o-mini',
      messages: [{ role: 'user', content: 'hi' }],
    });
    return `${res.status} ${res.json?.error?.message ?? res.json?.choices?.[0]?.message?.content}`;
  }

  async function reload(logText) {
    const before = logLines(gw, logText).length;
    gw.signal('SIGHUP');
    await waitFor(() => logLines(gw, logText).length > before, { what: logText });
  }

  test(
    'SIGHUP reloads a changed script; a broken one is refused and the old one stays',
    withLogs(async () => {
      assert.equal(await answer(), '418 version 1');

      writeFileSync(versioned, 'function on_request(req) return sluice.reject(418, "version 2") end\n');
      await reload('manifest reloaded from');
      assert.equal(await answer(), '418 version 2');

      writeFileSync(versioned, '-- a typo on line 2\nfunction on_request(req) return sluice.reject(418 "v3") end\n');
      await reload('manifest refused');
      assert.ok(
        logLines(gw, 'versioned.lua:2:').some((l) => l.includes("')' expected near '\"v3\"'")),
        'the refusal names the script and line',
      );
      assert.equal(await answer(), '418 version 2');

      writeFileSync(versioned, 'function on_response(req, res) res.set_header("x-v", "4") end\n');
      await reload('manifest reloaded from');
      const res = await postJson(`${gw.url}/v1/chat/completions`, {
        model: 'mock/gpt-4o-mini',
        messages: [{ role: 'user', content: 'hi' }],
      });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.headers['x-v'], '4');
    }),
  );
});

// ------------------------------------------------------------ examples/policies.yaml

describe('examples/policies.yaml', () => {
  const EXAMPLE = path.join(SOURCE_DIR, 'examples', 'policies.yaml');

  test('validates from the repository root, as its comments say to run it', async () => {
    const r = await runSluice(['validate', '-c', EXAMPLE], { cwd: SOURCE_DIR });
    assert.equal(r.code, 0, r.output);
  });

  test(
    'serves: checkout needs a ticket, workflows route, listed topics are blocked',
    withLogs(async () => {
      // The example as written, on a free port and with its paths made absolute.
      const text = readFileSync(EXAMPLE, 'utf8')
        .replace('listen: ["127.0.0.1:8080"]', 'listen: ["127.0.0.1:{{PORT}}"]\n  workers: 1')
        .replace('version: 1\n', 'version: 1\nadmin:\n  listen: "127.0.0.1:{{ADMIN_PORT}}"\n')
        .replaceAll('../scripts/lua/', `${EXAMPLES}/`)
        .replaceAll('script: scripts/lua/', `script: ${EXAMPLES}/`);
      const gw = await startGateway(text);
      try {
        const demo = (who) => `sk-demo-${who}`;
        const noTicket = await chat(gw, { token: demo('checkout'), model: 'openai-main/gpt-4o-mini' });
        assertApiError(noTicket, 400, { code: 'policy_rejected', message: 'ticket_id is required in production' });

        const routed = await chat(gw, {
          token: demo('alice'),
          model: 'openai-main/gpt-4o',
          metadata: { workflow: 'repo-understanding' },
        });
        assert.equal(routed.status, 200, routed.text);
        assert.equal(routed.headers['x-sluice-resolved-model'], 'on-prem/llama-3.1-70b');

        const topic = await chat(gw, { token: demo('bob'), model: 'openai-main/gpt-4o', content: 'Any Insider Trading tips?' });
        assertApiError(topic, 400, {
          code: 'guardrail_blocked',
          message: "guardrail 'topics' blocked this request: the topic 'insider trading' is off limits",
        });
      } finally {
        assert.deepEqual(await gw.stop(), { code: 0, signal: null });
      }
    }),
  );
});
