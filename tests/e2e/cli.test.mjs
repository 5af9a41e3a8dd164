// The CLI: `sluice validate` (good manifest, unknown keys with file:line:col,
// plugin ABI refusals from the loader fixtures) and `sluice plugins`.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

import { BUILD_DIR, SOURCE_DIR, runSluice, writeManifest } from './lib/gateway.mjs';

// The ABI this sluice speaks, as the SDK header declares it.
const ABI_HEADER = readFileSync(path.join(SOURCE_DIR, 'sdk/include/sluice/plugin.h'), 'utf8');
const ABI_MAJOR = Number(ABI_HEADER.match(/#define SLUICE_ABI_MAJOR (\d+)/)[1]);
const ABI_MINOR = Number(ABI_HEADER.match(/#define SLUICE_ABI_MINOR (\d+)/)[1]);

const FIXTURES = path.join(BUILD_DIR, 'fixtures');

const PROVIDERS = `providers:
  - name: up
    type: openai
    base_url: "http://127.0.0.1:9/v1"
    auth: {bearer: sk-test-123}
    models: [gpt-4o]
`;

function fixture(name) {
  const file = path.join(FIXTURES, name);
  assert.ok(existsSync(file), `loader fixture ${file} is missing: build the sluice_fixtures target`);
  return file;
}

function lines(text) {
  return text.split('\n').filter((l) => l.trim() !== '');
}

test('validate: a valid manifest exits 0', async () => {
  const file = writeManifest(`version: 1
server:
  listen: ["127.0.0.1:18080"]
  workers: 1
  limits: {max_body_bytes: 1048576}
  upstream: {connect_timeout_ms: 1000, first_byte_timeout_ms: 5000, total_timeout_ms: 60000}
admin:
  listen: "127.0.0.1:19090"
plugins:
  - {name: good-guard, path: ${fixture('good_guard.so')}, version: "^1.4"}
${PROVIDERS}  - name: compat
    type: openai-compatible
    base_url: "http://127.0.0.1:9/v1"
    models: [{name: llama, upstream_name: meta-llama/Llama-3.1-70B-Instruct}]
  - {name: mock, type: mock, latency_ms: 5, reply: hi, models: [gpt-4o-mini]}
`);
  const r = await runSluice(['validate', '-c', file]);
  assert.equal(r.code, 0, r.output);
  assert.ok(!/error/i.test(r.output), r.output);
});

test('validate: an unknown key exits 1 with file:line:col', async () => {
  const text = `version: 1
server:
  listen: ["127.0.0.1:18080"]
  bogus_key: 1
${PROVIDERS}`;
  const file = writeManifest(text);
  const r = await runSluice(['validate', '-c', file]);
  assert.equal(r.code, 1, r.output);
  const hit = lines(r.output).filter((l) => l.includes(`${file}:4:3`));
  assert.equal(hit.length, 1, `one line at ${file}:4:3 in:\n${r.output}`);
  assert.match(hit[0], /bogus_key/);
});

test('validate: an unknown key inside a provider block (plugin schema) exits 1 with file:line:col', async () => {
  const text = `version: 1
providers:
  - name: up
    type: openai
    base_url: "http://127.0.0.1:9/v1"
    colour: blue
    models: [gpt-4o]
`;
  const file = writeManifest(text);
  const r = await runSluice(['validate', '-c', file]);
  assert.equal(r.code, 1, r.output);
  const hit = lines(r.output).filter((l) => l.includes(`${file}:6:5`));
  assert.equal(hit.length, 1, `one line at ${file}:6:5 in:\n${r.output}`);
  assert.match(hit[0], /colour/);
});

test('validate: every error is reported, not just the first', async () => {
  const text = `version: 1
server:
  listen: ["127.0.0.1:18080"]
  wrokers: 2
admin:
  listen: "127.0.0.1:19090"
  tokn: x
${PROVIDERS}`;
  const file = writeManifest(text);
  const r = await runSluice(['validate', '-c', file]);
  assert.equal(r.code, 1, r.output);
  assert.ok(
    lines(r.output).some((l) => l.includes(`${file}:4:3`) && l.includes('wrokers')),
    r.output,
  );
  assert.ok(
    lines(r.output).some((l) => l.includes(`${file}:7:3`) && l.includes('tokn')),
    r.output,
  );
});

test('validate: a missing manifest file exits 1 naming it', async () => {
  const file = path.join(path.dirname(writeManifest('')), 'does-not-exist.yaml');
  const r = await runSluice(['validate', '-c', file]);
  assert.equal(r.code, 1, r.output);
  assert.ok(r.output.includes(file), r.output);
});

// Each refusal: exactly one output line names the refused file, with the reason.
const REFUSALS = [
  { name: 'bad magic', entries: [{ file: 'bad_magic.so' }], reason: /bad magic/ },
  { name: 'ABI major + 1', entries: [{ file: 'abi_major_next.so' }], reason: new RegExp(`ABI ${ABI_MAJOR + 1}\\.x`) },
  { name: 'ABI minor + 1', entries: [{ file: 'abi_minor_next.so' }], reason: new RegExp(`ABI ${ABI_MAJOR}\\.${ABI_MINOR + 1}.*newer`) },
  { name: 'no entry symbol', entries: [{ file: 'no_entry.so' }], reason: /missing symbol sluice_plugin_entry/ },
  {
    name: 'duplicate name',
    entries: [{ file: 'good_guard.so' }, { file: 'dup_name.so' }],
    refused: 'dup_name.so',
    reason: /already loaded/,
  },
  {
    name: 'version outside the constraint',
    entries: [{ file: 'good_guard.so', version: '^2' }],
    reason: /1\.4\.0.*\^2|\^2.*1\.4\.0/,
  },
  {
    name: 'name differs from the manifest',
    entries: [{ file: 'good_guard.so', name: 'other-guard' }],
    reason: /other-guard/,
  },
];

for (const c of REFUSALS) {
  test(`validate: plugin refused (${c.name}) exits 1 with one line naming the file`, async () => {
    const refusedName = c.refused || c.entries[0].file;
    const refused = fixture(refusedName);
    const plugins = c.entries
      .map((e) => {
        const keys = [`path: ${fixture(e.file)}`];
        if (e.name) keys.unshift(`name: ${e.name}`);
        if (e.version) keys.push(`version: "${e.version}"`);
        return `  - {${keys.join(', ')}}\n`;
      })
      .join('');
    const file = writeManifest(`version: 1\nplugins:\n${plugins}${PROVIDERS}`);
    const r = await runSluice(['validate', '-c', file]);
    assert.equal(r.code, 1, r.output);
    const naming = lines(r.output).filter((l) => l.includes(refused) || l.includes(realpathSync(refused)));
    assert.equal(naming.length, 1, `exactly one line names ${refusedName}:\n${r.output}`);
    assert.match(naming[0], c.reason);
    assert.equal(r.signal, null);
  });
}

test('validate: a missing plugin file exits 1 naming it', async () => {
  const missing = path.join(FIXTURES, 'not_there.so');
  const file = writeManifest(`version: 1\nplugins:\n  - {path: ${missing}}\n${PROVIDERS}`);
  const r = await runSluice(['validate', '-c', file]);
  assert.equal(r.code, 1, r.output);
  const naming = lines(r.output).filter((l) => l.includes(missing));
  assert.equal(naming.length, 1, r.output);
  assert.match(naming[0], /no such file/i);
});

test('plugins: lists openai, openai-compatible and mock with kind, version, ABI and path', async () => {
  const r = await runSluice(['plugins']);
  assert.equal(r.code, 0, r.output);
  const out = lines(r.stdout);
  assert.match(out[0], /^NAME\s+KIND\s+VERSION\s+ABI\s+PATH$/);
  for (const name of ['openai', 'openai-compatible', 'mock']) {
    const expected = path.join(BUILD_DIR, 'plugins', 'providers', `${name}.so`);
    const paths = new Set([expected, existsSync(expected) ? realpathSync(expected) : expected]);
    const row = out
      .slice(1)
      .map((l) => l.trim().split(/\s+/))
      .find((cols) => cols[0] === name);
    assert.ok(row, `a row for ${name} in:\n${r.stdout}`);
    assert.equal(row.length, 5, `five columns: ${row.join(' | ')}`);
    assert.equal(row[1], 'provider');
    assert.match(row[2], /^\d+\.\d+\.\d+$/);
    assert.equal(row[3], `${ABI_MAJOR}.${ABI_MINOR}`);
    assert.ok(paths.has(row[4]), `path ${row[4]}, expected ${expected}`);
  }
});
