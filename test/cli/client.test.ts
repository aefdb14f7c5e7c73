// Where the CLI talks and with which key (env, profile, XDG), `forge login`, what
// an unreachable API or an API error becomes, and the pure pieces of output.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { apiError, DEFAULT_URL, resolveTarget } from '../../cli/client.ts';
import { parseEnvFile } from '../../cli/env-flags.ts';
import { planText, table } from '../../cli/format.ts';
import { runCli } from '../../cli/index.ts';
import { profilePath } from '../../cli/profile.ts';
import { settledState } from '../../cli/wait.ts';
import type { ServiceJson } from '../../api/service-json.ts';
import { cliHarness } from './helpers.ts';

function temp(): string {
  return mkdtempSync(join(tmpdir(), 'forge-cli-client-'));
}

test('resolveTarget: env first; a profile key only for the URL it was saved for', () => {
  const home = temp();
  try {
    assert.deepEqual(resolveTarget({ env: { HOME: home } }), { url: DEFAULT_URL });
    mkdirSync(join(home, '.config', 'forge'), { recursive: true });
    writeFileSync(join(home, '.config', 'forge', 'profile.json'), JSON.stringify({ url: 'https://forge.example/', apiKey: 'ik_profile' }));
    const cases: [Record<string, string>, { url: string; apiKey?: string }][] = [
      [{}, { url: 'https://forge.example', apiKey: 'ik_profile' }],
      [{ FORGE_API_KEY: 'ik_env' }, { url: 'https://forge.example', apiKey: 'ik_env' }],
      [{ FORGE_URL: 'https://forge.example' }, { url: 'https://forge.example', apiKey: 'ik_profile' }],
      [{ FORGE_URL: 'http://other:8080/' }, { url: 'http://other:8080' }],
      [{ FORGE_URL: 'http://other:8080', FORGE_API_KEY: 'ik_env' }, { url: 'http://other:8080', apiKey: 'ik_env' }],
      [{ XDG_CONFIG_HOME: join(home, 'elsewhere') }, { url: DEFAULT_URL }],
    ];
    for (const [env, expected] of cases) assert.deepEqual(resolveTarget({ env: { HOME: home, ...env } }), expected, JSON.stringify(env));
    assert.equal(profilePath({ HOME: home }), join(home, '.config', 'forge', 'profile.json'));
    assert.equal(profilePath({ HOME: home, XDG_CONFIG_HOME: '/xdg' }), '/xdg/forge/profile.json');
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
});

test('apiError: API bodies become ForgeErrors with the next step', () => {
  const cases: [number, unknown, string, string][] = [
    [401, { error: 'E_UNAUTHORIZED', message: 'unauthorized' }, 'E_UNAUTHORIZED', 'unauthorized: set FORGE_API_KEY or run forge login'],
    [404, { error: 'E_NOT_FOUND', message: 'no service "x"' }, 'E_NOT_FOUND', 'no service "x" (see forge list)'],
    [503, { error: 'COMPUTE_NOT_CONFIGURED', message: 'provider fly is not configured' }, 'E_COMPUTE_NOT_CONFIGURED', 'provider fly is not configured'],
    [409, { error: 'E_CONFLICT', message: 'taken' }, 'E_CONFLICT', 'taken'],
    [502, 'not json', 'E_PROVIDER', 'the API answered 502'],
    [418, {}, 'E_BAD_REQUEST', 'the API answered 418'],
  ];
  for (const [status, body, code, message] of cases) {
    const error = apiError(status, body);
    assert.deepEqual([error.code, error.message], [code, message]);
  }
});

test('an unreachable API: what to do next', async () => {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  const home = temp();
  try {
    const result = await runCli(['list'], { cwd: home, env: { HOME: home, FORGE_URL: `http://127.0.0.1:${port}` } });
    assert.deepEqual(result, {
      exitCode: 1, stdout: '',
      stderr: `forge list: E_PROVIDER: cannot reach Forge at http://127.0.0.1:${port} (ECONNREFUSED): start it with \`forge server\` or set FORGE_URL\n`,
    });
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
});

test('forge login verifies the key, saves the profile 0600 (XDG_CONFIG_HOME honoured), and later commands use it', async () => {
  const h = await cliHarness({});
  const xdg = join(h.home, 'xdg');
  try {
    const refused = await runCli(['login', '--url', h.url, '--api-key', 'ik_wrong'], { cwd: h.home, env: { HOME: h.home, XDG_CONFIG_HOME: xdg } });
    assert.deepEqual(refused, {
      exitCode: 1, stdout: '',
      stderr: `forge login: E_UNAUTHORIZED: ${h.url} refused this API key; nothing was saved (create a key with forge keys create on the control plane)\n`,
    });
    const ok = await runCli(['login', '--url', `${h.url}/`, '--api-key', h.api.key], { cwd: h.home, env: { HOME: h.home, XDG_CONFIG_HOME: xdg } });
    const file = join(xdg, 'forge', 'profile.json');
    assert.deepEqual(ok, { exitCode: 0, stderr: '', stdout: `logged in to ${h.url}; saved as context default in ${file}\n` });
    assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), { current: 'default', contexts: { default: { url: h.url, apiKey: h.api.key } } });
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const list = await runCli(['list'], { cwd: h.home, env: { HOME: h.home, XDG_CONFIG_HOME: xdg } });
    assert.deepEqual(list, { exitCode: 0, stderr: '', stdout: 'no services (create one with forge deploy or forge apply)\n' });
    const fromEnv = await runCli(['login'], { cwd: h.home, env: { HOME: h.home, FORGE_URL: h.url, FORGE_API_KEY: h.api.key } });
    assert.equal(fromEnv.stdout, `logged in to ${h.url}; saved as context default in ${join(h.home, '.config', 'forge', 'profile.json')}\n`);
  } finally {
    await h.close();
  }
});

test('waiting is bounded by --timeout: exit 1 naming what did not settle, output so far kept', async () => {
  const h = await cliHarness({}); // no loop: nothing ever runs
  try {
    const result = await h.run(['deploy', '--name', 'web', '--image', 'nginx:1', '--timeout', '60ms']);
    assert.deepEqual(result, {
      exitCode: 1,
      stdout: 'created web (generation 1, pending)\nweb: pending (waiting for health 0/1)\n',
      stderr: 'forge deploy: E_TIMEOUT: timed out waiting for web (pending, ready 0/1); the change goes on in the control plane: follow it with forge get or forge events\n',
    });
    const json = await h.run(['deploy', '--name', 'web', '--image', 'nginx:2', '--timeout', '60ms', '--json']);
    assert.equal(JSON.parse(json.stdout).image, 'nginx:2');
    assert.ok(json.stderr.startsWith('web: pending (waiting for health 0/1)\nforge deploy: E_TIMEOUT: '), 'progress goes to stderr under --json');
  } finally {
    await h.close();
  }
});

test('settledState: done, failed or waiting', () => {
  const base = { status: 'running', generation: 2, observedGeneration: 2, desiredState: 'running' } as ServiceJson;
  const cases: [Partial<ServiceJson>, string][] = [
    [{}, 'done'],
    [{ observedGeneration: 1 }, 'waiting'],
    [{ status: 'deploying' }, 'waiting'],
    [{ status: 'failed' }, 'failed'],
    [{ status: 'failed', observedGeneration: 1 }, 'failed'],
    [{ desiredState: 'stopped' }, 'waiting'],
    [{ desiredState: 'stopped', status: 'stopped' }, 'done'],
    [{ status: 'pending', observedGeneration: 0 }, 'waiting'],
  ];
  for (const [over, expected] of cases) assert.equal(settledState({ ...base, ...over }), expected, JSON.stringify(over));
});

test('table pads every column but the last; planText shows create, update and delete', () => {
  assert.equal(table([['A', 'BB', 'C'], ['aaa', 'b', '']]), 'A    BB  C\naaa  b\n');
  const plan = {
    source: 's', dryRun: true, changed: ['a', 'b', 'c'],
    entries: [
      { name: 'a', op: 'create' as const, changes: [{ path: 'port', from: undefined, to: 80 }] },
      { name: 'b', op: 'update' as const, changes: [{ path: 'domains', from: [], to: ['x.example'] }] },
      { name: 'c', op: 'delete' as const, changes: [{ path: 'port', from: 80, to: undefined }] },
      { name: 'd', op: 'unchanged' as const, changes: [] },
    ],
  };
  assert.equal(planText(plan, { verbose: false }), '+ a (create)\n    port: 80\n~ b (update)\n    domains: [] → ["x.example"]\n- c (delete)\n1 to create, 1 to update, 1 to delete, 1 unchanged\n');
  assert.ok(planText(plan, { verbose: true }).includes('= d (unchanged)\n'));
});

test('parseEnvFile: KEY=VALUE lines, comments, export, quotes; a bad line names its number only', () => {
  assert.deepEqual(parseEnvFile('# c\n\nA=1\nexport B = two words \nC="quoted = yes"\nD=\'x\'\nE=\n', '.env'), { A: '1', B: 'two words', C: 'quoted = yes', D: 'x', E: '' });
  assert.equal(parseEnvFile('A=1\nsecret-value\n', '.env'), '.env:2: expected KEY=VALUE with KEY made of A-Z, 0-9 and _');
});
