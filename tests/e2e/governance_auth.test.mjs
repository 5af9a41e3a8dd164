// Identity and access: API keys (Bearer and x-api-key), 401s, model access
// patterns and 403s, the models list per caller, X-Sluice-Metadata checks,
// required metadata, and how default, header and account metadata merge
// (seen through rate-limit counter keys in /admin/limits).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import OpenAI from 'openai';

import { startGateway, withLogs } from './lib/gateway.mjs';
import {
  adminLimits,
  assertApiError,
  chat,
  credential,
  governanceManifest,
  headerBytes,
  mockProvider,
  rateCounter,
  rateRule,
} from './lib/governance.mjs';
import { postJson, request } from './lib/http.mjs';

const alice = credential('alice');
const bob = credential('bob');
const carol = credential('carol');
const checkout = credential('checkout');
const unknown = credential('nobody');
const CREDENTIALS = [alice, bob, carol, checkout];

const ALL_MODELS = ['mock/gpt-4o', 'mock/gpt-4o-mini', 'prod/assistant', 'prod/summarizer', 'produce/x'];

// Gateway with auth: alice may use everything, bob one exact model, carol
// nothing, the checkout account everything under "prod/".
const AUTH_MANIFEST = governanceManifest({
  providers: [
    mockProvider('mock', ['gpt-4o-mini', 'gpt-4o'], { reply: 'auth ok' }),
    mockProvider('prod', ['assistant', 'summarizer'], { reply: 'prod ok' }),
    mockProvider('produce', ['x'], { reply: 'produce ok' }),
  ],
  default_metadata: { environment: 'development', org: 'internal' },
  auth: {
    teams: [
      { name: 'payments', members: ['alice@example.com', 'bob@example.com'] },
      { name: 'research', members: ['bob@example.com'] },
    ],
    users: [
      { email: 'alice@example.com', token_sha256: alice.sha256, models: ['*'] },
      { email: 'bob@example.com', token_sha256: bob.sha256, team: 'research', models: ['mock/gpt-4o-mini'] },
      { email: 'carol@example.com', token_sha256: carol.sha256.toUpperCase() },
    ],
    virtual_accounts: [
      {
        name: 'checkout',
        token_sha256: checkout.sha256,
        team: 'payments',
        models: ['prod/*'],
        metadata: { environment: 'production' },
      },
    ],
  },
  rate_limits: [
    {
      id: 'by-env',
      when: { metadata: { probe: 'precedence' } },
      limit_to: 100000,
      unit: 'requests_per_day',
      applies_per: ['metadata.environment', 'metadata.org'],
    },
    {
      id: 'by-team',
      when: { metadata: { probe: 'team' } },
      limit_to: 100000,
      unit: 'requests_per_day',
      applies_per: ['subject', 'team'],
    },
  ],
});

// Open gateway (no auth section) with required metadata.
const OPEN_MANIFEST = governanceManifest({
  providers: [mockProvider('mock', ['gpt-4o-mini'], { reply: 'open ok' })],
  default_metadata: { cost_center: 'cc-default' },
  required_metadata: ['team', 'project_id', 'cost_center'],
  rate_limits: [
    {
      id: 'by-cost-center',
      limit_to: 100000,
      unit: 'requests_per_day',
      applies_per: ['subject', 'metadata.cost_center'],
    },
  ],
});

let gw;
let open;
before(async () => {
  gw = await startGateway(AUTH_MANIFEST);
  open = await startGateway(OPEN_MANIFEST);
});
after(async () => {
  for (const g of [gw, open]) {
    const exit = await g?.stop();
    if (exit) assert.deepEqual(exit, { code: 0, signal: null }, `exit of ${g.dump()}`);
  }
});

const MISSING_KEY = 'no API key: send Authorization: Bearer <token>';
const INVALID_KEY = 'the API key is not valid';

function client(token, g = gw) {
  return new OpenAI({ baseURL: `${g.url}/v1`, apiKey: token, maxRetries: 0, timeout: 20000 });
}

function assertNoSecrets(text, where) {
  for (const c of [...CREDENTIALS, unknown]) {
    assert.ok(!text.includes(c.token), `${where} must not contain a token`);
    assert.ok(!text.toLowerCase().includes(c.sha256), `${where} must not contain a token hash`);
  }
}

test(
  'no API key: 401 missing_api_key on chat and models (raw and SDK)',
  withLogs(async () => {
    const res = await chat(gw, { model: 'mock/gpt-4o-mini' });
    assertApiError(res, 401, { type: 'authentication_error', code: 'missing_api_key', message: MISSING_KEY });
    const models = await request(`${gw.url}/v1/models`);
    assertApiError(models, 401, { type: 'authentication_error', code: 'missing_api_key', message: MISSING_KEY });
    // Something in Authorization that is not a Bearer token is no key either.
    const basic = await chat(gw, { model: 'mock/gpt-4o-mini', headers: { authorization: 'Basic YTpi' } });
    assertApiError(basic, 401, { type: 'authentication_error', code: 'missing_api_key', message: MISSING_KEY });
    await assert.rejects(
      new OpenAI({
        baseURL: `${gw.url}/v1`,
        apiKey: '',
        maxRetries: 0,
        defaultHeaders: { authorization: null },
      }).models.list(),
      (err) => {
        assert.ok(err instanceof OpenAI.AuthenticationError, `AuthenticationError, got ${err}`);
        assert.equal(err.code, 'missing_api_key');
        return true;
      },
    );
  }),
);

test(
  'unknown API key: 401 invalid_api_key, Bearer and x-api-key alike; the key is never echoed',
  withLogs(async () => {
    const bearer = await chat(gw, { model: 'mock/gpt-4o-mini', token: unknown.token });
    assertApiError(bearer, 401, { type: 'authentication_error', code: 'invalid_api_key', message: INVALID_KEY });
    assertNoSecrets(bearer.text, 'a 401 body');
    const apiKey = await chat(gw, { model: 'mock/gpt-4o-mini', headers: { 'x-api-key': unknown.token } });
    assertApiError(apiKey, 401, { type: 'authentication_error', code: 'invalid_api_key', message: INVALID_KEY });
    // The hash itself is not a key.
    const hash = await chat(gw, { model: 'mock/gpt-4o-mini', token: alice.sha256 });
    assertApiError(hash, 401, { code: 'invalid_api_key', message: INVALID_KEY });
    await assert.rejects(
      client(unknown.token).chat.completions.create({
        model: 'mock/gpt-4o-mini',
        messages: [{ role: 'user', content: 'hi' }],
      }),
      (err) => {
        assert.ok(err instanceof OpenAI.AuthenticationError, `AuthenticationError, got ${err}`);
        assert.equal(err.status, 401);
        assert.equal(err.code, 'invalid_api_key');
        assert.ok(!String(err.message).includes(unknown.token));
        return true;
      },
    );
  }),
);

test(
  'a valid key works as Authorization: Bearer (SDK) and as x-api-key',
  withLogs(async () => {
    const { data, response } = await client(alice.token)
      .chat.completions.create({ model: 'mock/gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] })
      .withResponse();
    assert.equal(response.status, 200);
    assert.equal(data.choices[0].message.content, 'auth ok');
    const viaHeader = await chat(gw, { model: 'prod/assistant', headers: { 'x-api-key': checkout.token } });
    assert.equal(viaHeader.status, 200, viaHeader.text);
    assert.equal(viaHeader.json.choices[0].message.content, 'prod ok');
    // The stored hash may be upper-case hex.
    const upper = await request(`${gw.url}/v1/models`, { headers: { authorization: `Bearer ${carol.token}` } });
    assert.equal(upper.status, 200, upper.text);
  }),
);

// [caller, model, allowed]
const ACCESS = [
  ['alice', alice, 'mock/gpt-4o', true],
  ['alice', alice, 'prod/assistant', true],
  ['alice', alice, 'produce/x', true],
  ['bob', bob, 'mock/gpt-4o-mini', true],
  ['bob', bob, 'mock/gpt-4o', false],
  ['bob', bob, 'prod/assistant', false],
  ['carol', carol, 'mock/gpt-4o-mini', false],
  ['carol', carol, 'prod/assistant', false],
  ['checkout', checkout, 'prod/assistant', true],
  ['checkout', checkout, 'prod/summarizer', true],
  ['checkout', checkout, 'produce/x', false],
  ['checkout', checkout, 'mock/gpt-4o-mini', false],
];
const SUBJECTS = {
  alice: 'user:alice@example.com',
  bob: 'user:bob@example.com',
  carol: 'user:carol@example.com',
  checkout: 'virtualaccount:checkout',
};

test(
  'model access: "*", "prefix*" and exact patterns; a caller without models may use none (403 naming the model)',
  withLogs(async () => {
    for (const [who, cred, model, allowed] of ACCESS) {
      const res = await chat(gw, { model, token: cred.token });
      if (allowed) {
        assert.equal(res.status, 200, `${who} -> ${model}: ${res.text}`);
        assert.equal(res.headers['x-sluice-resolved-model'], model);
        continue;
      }
      const e = assertApiError(res, 403, {
        type: 'permission_error',
        code: 'model_not_allowed',
        param: 'model',
        message: `${SUBJECTS[who]} may not use model '${model}'`,
      });
      assert.ok(e.message.includes(model));
    }
    await assert.rejects(
      client(checkout.token).chat.completions.create({
        model: 'mock/gpt-4o',
        messages: [{ role: 'user', content: 'hi' }],
      }),
      (err) => {
        assert.ok(err instanceof OpenAI.PermissionDeniedError, `PermissionDeniedError, got ${err}`);
        assert.equal(err.code, 'model_not_allowed');
        assert.equal(err.param, 'model');
        return true;
      },
    );
  }),
);

test(
  'access is checked before the model is looked up: 403 for a forbidden unknown model, 404 for an allowed one',
  withLogs(async () => {
    const forbidden = await chat(gw, { model: 'mock/no-such-model', token: checkout.token });
    assertApiError(forbidden, 403, {
      code: 'model_not_allowed',
      message: "virtualaccount:checkout may not use model 'mock/no-such-model'",
    });
    const allowedPattern = await chat(gw, { model: 'prod/no-such-model', token: checkout.token });
    const e = assertApiError(allowedPattern, 404, { code: 'model_not_found', param: 'model' });
    assert.ok(e.message.includes('prod/no-such-model'), e.message);
    const star = await chat(gw, { model: 'nowhere/model', token: alice.token });
    assertApiError(star, 404, { code: 'model_not_found' });
  }),
);

test(
  'GET /models lists only the models the caller may use',
  withLogs(async () => {
    const expected = {
      alice: ALL_MODELS,
      bob: ['mock/gpt-4o-mini'],
      carol: [],
      checkout: ['prod/assistant', 'prod/summarizer'],
    };
    for (const [who, cred] of [
      ['alice', alice],
      ['bob', bob],
      ['carol', carol],
      ['checkout', checkout],
    ]) {
      const page = await client(cred.token).models.list();
      assert.deepEqual(page.data.map((m) => m.id).sort(), expected[who], `models of ${who}`);
      const raw = await request(`${gw.url}/v1/models`, { headers: { 'x-api-key': cred.token } });
      assert.equal(raw.status, 200, raw.text);
      assert.equal(raw.json.object, 'list');
      assert.deepEqual(raw.json.data.map((m) => m.id).sort(), expected[who], `models of ${who} via x-api-key`);
    }
    const bad = await request(`${gw.url}/v1/models`, { headers: { authorization: `Bearer ${unknown.token}` } });
    assertApiError(bad, 401, { code: 'invalid_api_key', message: INVALID_KEY });
  }),
);

const BAD_SHAPE = 'X-Sluice-Metadata: must be a JSON object of string values';
const METADATA_ERRORS = [
  ['not JSON', '{team: a}', BAD_SHAPE],
  ['truncated JSON', '{"team": "a"', BAD_SHAPE],
  ['an array', '["team", "a"]', BAD_SHAPE],
  ['a string', '"team"', BAD_SHAPE],
  ['a number', '42', BAD_SHAPE],
  ['null', 'null', BAD_SHAPE],
  ['a number value', '{"team": 5}', "X-Sluice-Metadata: value of 'team' must be a string"],
  ['a boolean value', '{"ok": "yes", "team": true}', "X-Sluice-Metadata: value of 'team' must be a string"],
  ['a null value', '{"team": null}', "X-Sluice-Metadata: value of 'team' must be a string"],
  ['an object value', '{"team": {"name": "a"}}', "X-Sluice-Metadata: value of 'team' must be a string"],
  ['an array value', '{"team": ["a"]}', "X-Sluice-Metadata: value of 'team' must be a string"],
  [
    '129 ASCII characters',
    JSON.stringify({ team: 'a'.repeat(129) }),
    "X-Sluice-Metadata: value of 'team' is 129 characters long; at most 128 are allowed",
  ],
  [
    '129 two-byte characters',
    JSON.stringify({ team: 'é'.repeat(129) }),
    "X-Sluice-Metadata: value of 'team' is 129 characters long; at most 128 are allowed",
  ],
  [
    '129 four-byte characters',
    JSON.stringify({ team: '😀'.repeat(129) }),
    "X-Sluice-Metadata: value of 'team' is 129 characters long; at most 128 are allowed",
  ],
  [
    '200 three-byte characters',
    JSON.stringify({ team: '€'.repeat(200) }),
    "X-Sluice-Metadata: value of 'team' is 200 characters long; at most 128 are allowed",
  ],
];

test(
  'X-Sluice-Metadata: every malformed shape answers 400 invalid_metadata naming what is wrong',
  withLogs(async () => {
    for (const [name, header, message] of METADATA_ERRORS) {
      const res = await chat(gw, { model: 'mock/gpt-4o-mini', token: alice.token, metadata: header });
      const e = assertApiError(res, 400, { code: 'invalid_metadata', param: 'X-Sluice-Metadata' });
      assert.equal(e.message, message, `message for ${name}`);
      assert.equal(e.type, 'invalid_request_error', `type for ${name}`);
    }
    // The alias header is checked the same way.
    const alias = await chat(gw, {
      model: 'mock/gpt-4o-mini',
      token: alice.token,
      headers: { 'x-tfy-metadata': '{"team": 7}' },
    });
    assertApiError(alias, 400, {
      code: 'invalid_metadata',
      param: 'X-Sluice-Metadata',
      message: "X-Sluice-Metadata: value of 'team' must be a string",
    });
  }),
);

test(
  'X-Sluice-Metadata: 128 characters is the limit, counted in characters, not bytes',
  withLogs(async () => {
    for (const value of ['a'.repeat(128), 'é'.repeat(128), '€'.repeat(128), '😀'.repeat(128), '']) {
      const res = await chat(gw, { model: 'mock/gpt-4o-mini', token: alice.token, metadata: { team: value } });
      assert.equal(res.status, 200, `${[...value].length} characters of ${value[0] ?? 'nothing'}: ${res.text}`);
    }
  }),
);

test(
  'request order: 401 before a metadata 400, body 400 before a metadata 400, metadata 400 before a 403',
  withLogs(async () => {
    const unauth = await chat(gw, { model: 'mock/gpt-4o-mini', token: unknown.token, metadata: '[]' });
    assertApiError(unauth, 401, { code: 'invalid_api_key' });
    const noKey = await chat(gw, { model: 'mock/gpt-4o-mini', metadata: '[]' });
    assertApiError(noKey, 401, { code: 'missing_api_key' });

    const badBody = await postJson(`${gw.url}/v1/chat/completions`, '{"model": "mock/gpt-4o-mini", ', {
      headers: { authorization: `Bearer ${alice.token}`, 'x-sluice-metadata': '[]' },
    });
    const e = assertApiError(badBody, 400, { type: 'invalid_request_error' });
    assert.notEqual(e.code, 'invalid_metadata', `the body is checked first: ${badBody.text}`);
    const noModel = await postJson(
      `${gw.url}/v1/chat/completions`,
      { messages: [{ role: 'user', content: 'x' }] },
      {
        headers: { authorization: `Bearer ${alice.token}`, 'x-sluice-metadata': '[]' },
      },
    );
    assertApiError(noModel, 400, { param: 'model' });

    const forbidden = await chat(gw, { model: 'mock/gpt-4o', token: carol.token, metadata: '{"a": 1}' });
    assertApiError(forbidden, 400, {
      code: 'invalid_metadata',
      message: "X-Sluice-Metadata: value of 'a' must be a string",
    });
  }),
);

test(
  "metadata precedence: manifest default < X-Sluice-Metadata < the account's own metadata",
  withLogs(async () => {
    const sends = [
      // [caller, header metadata, header name, times, expected counter key]
      [
        alice,
        { probe: 'precedence' },
        'x-sluice-metadata',
        1,
        'metadata.environment=development,metadata.org=internal',
      ],
      [
        alice,
        { probe: 'precedence', environment: 'staging' },
        'x-sluice-metadata',
        2,
        'metadata.environment=staging,metadata.org=internal',
      ],
      [
        alice,
        { probe: 'precedence', org: 'external' },
        'x-tfy-metadata',
        1,
        'metadata.environment=development,metadata.org=external',
      ],
      [
        checkout,
        { probe: 'precedence', environment: 'staging' },
        'x-sluice-metadata',
        3,
        'metadata.environment=production,metadata.org=internal',
      ],
    ];
    for (const [cred, metadata, header, times, key] of sends) {
      for (let i = 0; i < times; i++) {
        const model = cred === checkout ? 'prod/assistant' : 'mock/gpt-4o-mini';
        const res = await chat(gw, {
          model,
          token: cred.token,
          headers: { [header]: headerBytes(JSON.stringify(metadata)) },
        });
        assert.equal(res.status, 200, `${key}: ${res.text}`);
        assert.equal(res.headers['x-ratelimit-limit-requests'], '100000', 'the by-env rule applied');
      }
    }
    const limits = await adminLimits(gw);
    const counters = rateRule(limits, 'by-env').counters;
    assert.deepEqual(
      counters.map((c) => [c.key, c.used]).sort(),
      sends.map(([, , , times, key]) => [key, times]).sort(),
      `counters of by-env: ${JSON.stringify(counters)}`,
    );
    assertNoSecrets(limits.rawText, '/admin/limits');
  }),
);

test(
  "subject and team: a user's team key wins, else the first team listing the e-mail",
  withLogs(async () => {
    const metadata = { probe: 'team' };
    const sends = [
      [alice, 'mock/gpt-4o-mini', 'subject=user:alice@example.com,team=payments'],
      [bob, 'mock/gpt-4o-mini', 'subject=user:bob@example.com,team=research'],
      [checkout, 'prod/summarizer', 'subject=virtualaccount:checkout,team=payments'],
    ];
    for (const [cred, model] of sends) {
      const res = await chat(gw, { model, token: cred.token, metadata });
      assert.equal(res.status, 200, res.text);
    }
    const limits = await adminLimits(gw);
    for (const [, , key] of sends) {
      const c = rateCounter(limits, 'by-team', key);
      assert.ok(c, `counter ${key} in ${JSON.stringify(rateRule(limits, 'by-team').counters)}`);
      assert.equal(c.used, 1, key);
    }
    assert.equal(rateRule(limits, 'by-team').counters.length, sends.length);
    assertNoSecrets(limits.rawText, '/admin/limits');
  }),
);

test(
  'open gateway (no auth section): everyone is anonymous with every model',
  withLogs(async () => {
    const metadata = { team: 't', project_id: 'p' };
    const none = await chat(open, { model: 'mock/gpt-4o-mini', metadata });
    assert.equal(none.status, 200, none.text);
    const junk = await chat(open, { model: 'mock/gpt-4o-mini', metadata, token: unknown.token });
    assert.equal(junk.status, 200, junk.text);
    const models = await request(`${open.url}/v1/models`);
    assert.equal(models.status, 200, models.text);
    assert.deepEqual(
      models.json.data.map((m) => m.id),
      ['mock/gpt-4o-mini'],
    );
    const limits = await adminLimits(open);
    const c = rateCounter(limits, 'by-cost-center', 'subject=anonymous,metadata.cost_center=cc-default');
    assert.ok(c, JSON.stringify(rateRule(limits, 'by-cost-center').counters));
    assert.equal(c.used, 2);
  }),
);

test(
  'required_metadata: 400 missing_metadata naming every missing key, defaults count, the header fills the rest',
  withLogs(async () => {
    const cases = [
      [undefined, 'required metadata missing: team, project_id (send them in X-Sluice-Metadata)'],
      [{}, 'required metadata missing: team, project_id (send them in X-Sluice-Metadata)'],
      [{ team: 'a' }, 'required metadata missing: project_id (send them in X-Sluice-Metadata)'],
      [{ project_id: 'p', other: 'x' }, 'required metadata missing: team (send them in X-Sluice-Metadata)'],
    ];
    for (const [metadata, message] of cases) {
      const res = await chat(open, { model: 'mock/gpt-4o-mini', metadata });
      assertApiError(res, 400, {
        type: 'invalid_request_error',
        code: 'missing_metadata',
        param: 'X-Sluice-Metadata',
        message,
      });
    }
    const ok = await chat(open, {
      model: 'mock/gpt-4o-mini',
      headers: { 'x-tfy-metadata': JSON.stringify({ team: 'a', project_id: 'p', cost_center: 'cc-header' }) },
    });
    assert.equal(ok.status, 200, ok.text);
    const limits = await adminLimits(open);
    const c = rateCounter(limits, 'by-cost-center', 'subject=anonymous,metadata.cost_center=cc-header');
    assert.ok(c, `the header overrode the default: ${JSON.stringify(rateRule(limits, 'by-cost-center').counters)}`);
    assert.equal(c.used, 1);
  }),
);

test(
  'no token or token hash in the gateway logs',
  withLogs(async () => {
    assertNoSecrets(gw.output, 'the gateway log');
  }),
);
