// The `lua` guardrail plugin in the real gateway: a script that blocks
// (400 guardrail_blocked with its reason), rewrites the prompt and the answer,
// and a runaway script that is a guardrail failure: `enforce` lets the
// request through, `strict` blocks it. A broken script stops validate.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';

import { openaiManifest, runSluice, tempDir, waitFor, withLogs, writeManifest } from './lib/gateway.mjs';
import { assertApiError } from './lib/governance.mjs';
import { postJson } from './lib/http.mjs';
import { gatewaySuite } from './lib/suite.mjs';

function script(name, source) {
  const file = path.join(tempDir('sluice-lua-guard-'), name);
  writeFileSync(file, source);
  return file;
}

const TOPICS = script(
  'topics.lua',
  `function check(content, ctx)
  if content:lower():find('forbidden topic', 1, true) then
    return 'block', 'off-topic request (' .. ctx.hook .. ')', {{type = 'TOPIC'}}
  end
end
`,
);

const PHONES = script(
  'phones.lua',
  `function redact(content, ctx)
  local out, phones = content:gsub('%d%d%d%-%d%d%d%d', '[PHONE]')
  local out2, holidays = out:gsub('Galaxy Day', '[HOLIDAY]')
  if phones + holidays > 0 then return 'mutate', out2, {{type = 'PHONE', count = phones + holidays}} end
end
`,
);

const RUNAWAY = script(
  'runaway.lua',
  `function check(content)
  if content:find('spin', 1, true) then while true do end end
end
`,
);

const guard = (name, operation, mode, file, extra = '') =>
  `  - {name: ${name}, plugin: lua, operation: ${operation}, mode: ${mode}, config: {script: "${file}"${extra}}}\n`;

const rule = (scenario, hooks) =>
  `  - id: ${scenario}\n    when: {metadata: {scenario: ${scenario}}}\n` +
  Object.entries(hooks)
    .map(([hook, names]) => `    ${hook}: [${names.join(', ')}]\n`)
    .join('');

const ctx = gatewaySuite((up) =>
  openaiManifest(up.url, {
    top:
      'guardrails:\n' +
      guard('topics', 'validate', 'enforce', TOPICS) +
      guard('phones', 'mutate', 'enforce', PHONES, ', function: redact') +
      guard('runaway-enforce', 'validate', 'enforce', RUNAWAY, ', instruction_budget: 100000') +
      guard('runaway-strict', 'validate', 'strict', RUNAWAY, ', instruction_budget: 100000') +
      'guardrail_rules:\n' +
      rule('topics', { llm_input: ['topics'] }) +
      rule('phones', { llm_input: ['phones'], llm_output: ['phones'] }) +
      rule('enforce', { llm_input: ['runaway-enforce'] }) +
      rule('strict', { llm_input: ['runaway-strict'] }),
  }),
);

function ask(content, scenario) {
  return postJson(
    `${ctx.gw.url}/v1/chat/completions`,
    { model: 'up/gpt-4o', messages: [{ role: 'user', content }] },
    { headers: { 'x-sluice-metadata': JSON.stringify({ scenario }) } },
  );
}

describe('guardrail plugin lua', () => {
  test(
    'block: 400 guardrail_blocked with the script reason; nothing goes upstream',
    withLogs(async () => {
      const res = await ask('Tell me about the FORBIDDEN TOPIC please', 'topics');
      assertApiError(res, 400, {
        code: 'guardrail_blocked',
        message: "guardrail 'topics' blocked this request: off-topic request (llm_input)",
      });
      assert.equal(ctx.up.requests.length, 0);
      const ok = await ask('Tell me about the weather', 'topics');
      assert.equal(ok.status, 200, ok.text);
    }),
  );

  test(
    'mutate: the prompt reaches the provider rewritten, the answer reaches the caller rewritten',
    withLogs(async () => {
      const res = await ask('Call me on 555-1234 or 555-9876', 'phones');
      assert.equal(res.status, 200, res.text);
      assert.equal(ctx.up.last().body.messages[0].content, 'Call me on [PHONE] or [PHONE]');
      const answer = res.json.choices[0].message.content;
      assert.ok(answer.startsWith('**Holiday Name:** [HOLIDAY]'), answer.slice(0, 80));
      assert.ok(!answer.includes('Galaxy Day'));
    }),
  );

  test(
    'a runaway script is a guardrail failure: enforce lets the request through, strict blocks',
    withLogs(async () => {
      const through = await ask('spin forever', 'enforce');
      assert.equal(through.status, 200, through.text);
      assert.equal(ctx.up.requests.length, 1);
      await waitFor(() => /runaway\.lua: check failed: .*runaway\.lua:2: instruction budget of 100000 exceeded/.test(ctx.gw.stderr), {
        what: 'the plugin warning',
      });

      const blocked = await ask('spin forever', 'strict');
      assertApiError(blocked, 400, {
        code: 'guardrail_blocked',
        message: /^guardrail 'runaway-strict' blocked this request: the guardrail failed: .*instruction budget of 100000 exceeded$/,
      });
      assert.equal(ctx.up.requests.length, 1, 'the strict one never went upstream');

      // The worker's state serves the next check.
      const next = await ask('calm', 'strict');
      assert.equal(next.status, 200, next.text);
    }),
  );

  test('sluice validate refuses a broken guardrail script, naming it and its line', async () => {
    const broken = script('broken.lua', 'function check(content)\n  return "block",\nend\n');
    const file = writeManifest(`version: 1
providers:
  - {name: mock, type: mock, models: [m]}
guardrails:
${guard('broken', 'validate', 'enforce', broken)}`);
    const r = await runSluice(['validate', '-c', file]);
    assert.equal(r.code, 1, r.output);
    assert.match(r.stderr, /broken\.lua:3: unexpected symbol near 'end'/);
  });
});
