// Global options (--url, --api-key, --context, -o json|yaml|table) and named
// contexts in the profile file, through runCli against a live API.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { runCli, type CliDeps } from '../../cli/index.ts';
import { cliHarness, type CliHarness } from './helpers.ts';

describe('global options and contexts', () => {
  let h: CliHarness;
  let bare: (extra?: Record<string, string>) => CliDeps;
  before(async () => {
    h = await cliHarness();
    assert.equal((await h.run(['deploy', '--name', 'web', '--image', 'nginx:1'])).exitCode, 0);
    // No FORGE_URL / FORGE_API_KEY: only flags, contexts or the profile say where to go.
    bare = (extra = {}) => ({ cwd: h.home, env: { HOME: h.home, ...extra } });
  });
  after(() => h.close());

  test('--url and --api-key, before or after the command, in both spellings', async () => {
    for (const argv of [['--url', h.url, '--api-key', h.api.key, 'list'], ['list', `--url=${h.url}`, `--api-key=${h.api.key}`], [`--url=${h.url}`, 'list', '--api-key', h.api.key]]) {
      const result = await runCli(argv, bare());
      assert.equal(result.exitCode, 0, `${argv.join(' ')}: ${result.stderr}`);
      assert.match(result.stdout, /^NAME/);
    }
  });

  test('-o json, -o yaml, -o table; a format a command cannot print is a usage error', async () => {
    const json = await h.run(['list', '-o', 'json']);
    assert.equal((JSON.parse(json.stdout) as { name: string }[])[0]!.name, 'web');
    const yaml = await h.run(['get', 'web', '--output=yaml']);
    assert.equal(yaml.exitCode, 0, yaml.stderr);
    assert.deepEqual([parse(yaml.stdout).name, parse(yaml.stdout).image], ['web', 'nginx:1']);
    assert.match((await h.run(['list', '-o', 'table'])).stdout, /^NAME/);
    const logs = await h.run(['logs', 'web', '-o', 'json']);
    assert.equal(logs.exitCode, 2);
    assert.match(logs.stderr, /^forge logs: -o json is not available for this command\n/);
    const xml = await h.run(['list', '-o', 'xml']);
    assert.equal(xml.exitCode, 2);
    assert.match(xml.stderr, /^forge list: -o must be json, yaml or table, got "xml"\n/);
  });

  test('contexts: login --context saves and selects one; context use / current / list; --context picks one per command', async () => {
    const env = { XDG_CONFIG_HOME: join(h.home, 'ctx') };
    const prod = await runCli(['login', '--context', 'prod', '--url', h.url, '--api-key', h.api.key], bare(env));
    assert.equal(prod.exitCode, 0, prod.stderr);
    assert.match(prod.stdout, /; saved as context prod in /);
    const staging = await runCli(['login', '--url', h.url, '--api-key', h.api.key, '--context=staging'], bare(env));
    assert.equal(staging.exitCode, 0, staging.stderr);
    assert.deepEqual(await runCli(['context', 'current'], bare(env)), { exitCode: 0, stdout: 'staging\n', stderr: '' });
    assert.deepEqual(await runCli(['context', 'use', 'prod'], bare(env)), { exitCode: 0, stdout: `now using context prod (${h.url})\n`, stderr: '' });
    assert.deepEqual(await runCli(['context'], bare(env)), { exitCode: 0, stdout: `* prod     ${h.url}\n  staging  ${h.url}\n`, stderr: '' });
    assert.deepEqual(await runCli(['--context', 'staging', 'context', 'current'], bare(env)), { exitCode: 0, stdout: 'staging\n', stderr: '' });
    assert.equal((await runCli(['list'], bare(env))).exitCode, 0);
    const file = JSON.parse(readFileSync(join(h.home, 'ctx', 'forge', 'profile.json'), 'utf8')) as { current: string; contexts: Record<string, unknown> };
    assert.deepEqual([file.current, Object.keys(file.contexts).sort()], ['prod', ['prod', 'staging']]);
    assert.equal((await runCli(['context', 'use', 'nope'], bare(env))).exitCode, 1);
  });

  test('a profile from before contexts reads as the context default', async () => {
    const dir = join(h.home, 'old', 'forge');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'profile.json'), JSON.stringify({ url: h.url, apiKey: h.api.key }));
    const env = { XDG_CONFIG_HOME: join(h.home, 'old') };
    assert.deepEqual(await runCli(['context', 'list'], bare(env)), { exitCode: 0, stdout: `* default  ${h.url}\n`, stderr: '' });
    assert.equal((await runCli(['get', 'web'], bare(env))).exitCode, 0);
  });
});
