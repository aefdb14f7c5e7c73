// Every API command through runCli against a real API on 127.0.0.1:0 whose loop
// drives the world provider, so services really reach running. Secrets: a canary
// value is set and searched for in everything the CLI printed.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ServiceJson } from '../../api/service-json.ts';
import type { CliResult } from '../../cli/index.ts';
import { cliHarness, type CliHarness } from './helpers.ts';

const CANARY = 'canary-cli-5b8e0c';

describe('forge service commands against a live API', () => {
  let h: CliHarness;
  const run = (argv: string[], extra?: Parameters<CliHarness['run']>[1]): Promise<CliResult> => h.run(argv, extra);
  const apiGet = async (name: string): Promise<ServiceJson> =>
    (await h.api.app.inject({ method: 'GET', url: `/api/compute/services/${name}`, headers: h.api.auth() })).json();

  before(async () => {
    h = await cliHarness();
  });
  after(async () => {
    await h.close();
    for (const text of h.printed) assert.ok(!text.includes(CANARY), 'a secret value reached the terminal');
  });

  test('list with no services', async () => {
    assert.deepEqual(await run(['list']), { exitCode: 0, stdout: 'no services (create one with forge deploy or forge apply)\n', stderr: '' });
  });

  test('deploy creates, waits until running, and prints progress', async () => {
    const result = await run(['deploy', '--name', 'web', '--image', 'nginx:1', '--port', '80', '--memory', '256', '--env-set', `TOKEN=${CANARY}`]);
    assert.equal(result.exitCode, 0, result.stderr);
    assert.match(result.stdout, /^created web \(generation 1, (pending|creating|running)\)\n/);
    assert.ok(result.stdout.endsWith('web: running\n'), result.stdout);
    const service = await apiGet('web');
    assert.deepEqual([service.status, service.image, service.port, service.memory, service.envKeys], ['running', 'nginx:1', 80, 256, ['TOKEN']]);
  });

  test('deploy by the same name updates (PATCH): env merges, no new service', async () => {
    const result = await run(['deploy', '--name', 'web', '--env-set', 'MODE=prod', '--no-wait']);
    assert.equal(result.exitCode, 0, result.stderr);
    assert.match(result.stdout, /^updated web \(generation 2, \w+\)\n$/);
    assert.deepEqual((await apiGet('web')).envKeys, ['MODE', 'TOKEN']);
    const json = await run(['deploy', '--name', 'web', '--json', '--no-wait']);
    const body = JSON.parse(json.stdout) as ServiceJson;
    assert.deepEqual([body.name, body.generation, body.envKeys], ['web', 2, ['MODE', 'TOKEN']]);
  });

  test('deploy of a new name without --image says what is missing', async () => {
    assert.deepEqual(await run(['deploy', '--name', 'fresh']), {
      exitCode: 2, stdout: '', stderr: 'forge deploy: E_USAGE: fresh does not exist yet: give --image URL (or a source DIR) to create it\n',
    });
  });

  test('list prints an aligned table; colour only on a TTY without NO_COLOR', async () => {
    await run(['deploy', '--name', 'api', '--image', 'app:1']);
    const plain = await run(['list']);
    assert.deepEqual(plain, {
      exitCode: 0, stderr: '',
      stdout: 'NAME  STATUS   PROVIDER  REPLICAS  URL\napi   running  agent     1/1       -\nweb   running  agent     1/1       -\n',
    });
    const tty = await run(['list'], { isTTY: true });
    assert.ok(tty.stdout.includes('\u001b[32mrunning\u001b[0m'), tty.stdout);
    assert.equal((await run(['list'], { isTTY: true, env: { NO_COLOR: '1' } })).stdout, plain.stdout);
    const json = await run(['list', '--json']);
    assert.deepEqual(JSON.parse(json.stdout).map((s: ServiceJson) => s.name), ['api', 'web']);
  });

  test('get shows details; get --json is the API JSON', async () => {
    const result = await run(['get', 'web']);
    assert.equal(result.exitCode, 0);
    for (const line of ['name:      web', 'status:    running (generation 2, observed 2; desired running)', 'provider:  agent', 'image:     nginx:1',
      'port:      80', 'memory:    256MB', 'replicas:  1/1 ready', 'env keys:  MODE, TOKEN', '  Ready        True    InstancesReady  1 of 1 instance(s) running']) {
      assert.ok(result.stdout.split('\n').includes(line), `missing line ${JSON.stringify(line)} in\n${result.stdout}`);
    }
    assert.match(result.stdout, /\n {2}inst_[0-9a-f]+ +- +iad +running +healthy +http:\/\/127\.0\.0\.1:20000\n/);
    const json = await run(['get', 'web', '--json']);
    assert.deepEqual(JSON.parse(json.stdout), await apiGet('web'));
    assert.deepEqual(await run(['get', 'nope']), { exitCode: 1, stdout: '', stderr: 'forge get: E_NOT_FOUND: no service "nope" (see forge list)\n' });
  });

  test('update patches and waits; update of an unknown service fails', async () => {
    const result = await run(['update', 'web', '--image', 'nginx:2']);
    assert.equal(result.exitCode, 0, result.stderr);
    assert.match(result.stdout, /^updated web \(generation 3, \w+\)\n/);
    assert.ok(result.stdout.endsWith('web: running\n'));
    assert.equal((await apiGet('web')).image, 'nginx:2');
    assert.deepEqual(await run(['update', 'nope', '--image', 'x']), {
      exitCode: 1, stdout: '', stderr: 'forge update: E_NOT_FOUND: no service "nope" (see forge list; create it with forge deploy)\n',
    });
  });

  test('secrets set / list / unset print names only', async () => {
    const set = await run(['secrets', 'set', 'web', `DB_URL=${CANARY}-db`, 'REGION=eu']);
    assert.deepEqual(set, { exitCode: 0, stderr: '', stdout: 'set DB_URL, REGION on web (generation 4); env keys now: DB_URL, MODE, REGION, TOKEN\n' });
    assert.deepEqual(await run(['secrets', 'list', 'web']), { exitCode: 0, stderr: '', stdout: 'DB_URL\nMODE\nREGION\nTOKEN\n' });
    assert.deepEqual(JSON.parse((await run(['secrets', 'list', 'web', '--json'])).stdout), { name: 'web', envKeys: ['DB_URL', 'MODE', 'REGION', 'TOKEN'] });
    const unset = await run(['secrets', 'unset', 'web', 'REGION', 'MODE']);
    assert.deepEqual(unset, { exitCode: 0, stderr: '', stdout: 'unset REGION, MODE on web (generation 5); env keys now: DB_URL, TOKEN\n' });
    assert.deepEqual(await run(['secrets', 'list', 'nope']), { exitCode: 1, stdout: '', stderr: 'forge secrets: E_NOT_FOUND: no service "nope" (see forge list)\n' });
  });

  test('stop and start', async () => {
    assert.match((await run(['stop', 'web'])).stdout, /^web: stop requested \(desired stopped, now \w+\)\n$/);
    assert.equal((await apiGet('web')).desiredState, 'stopped');
    assert.match((await run(['start', 'web'])).stdout, /^web: start requested \(desired running, now \w+\)\n$/);
    assert.equal(JSON.parse((await run(['start', 'web', '--json'])).stdout).desiredState, 'running');
    assert.deepEqual(await run(['stop', 'nope']), { exitCode: 1, stdout: '', stderr: 'forge stop: E_NOT_FOUND: no service "nope" (see forge list)\n' });
  });

  test('events and logs (plain)', async () => {
    const events = await run(['events', 'web', '--limit', '3']);
    const lines = events.stdout.trimEnd().split('\n');
    assert.equal(lines.length, 3);
    for (const line of lines) assert.match(line, /^\d{4}-\d\d-\d\dT[\d:.]+Z {2}(Normal|Warning) {2}\w+: /);
    assert.equal(JSON.parse((await run(['events', 'web', '--json'])).stdout).length > 3, true);
    // What an agent would have shipped (the world provider runs nothing that prints).
    const t = Date.now();
    h.api.store.logs.append([
      { service: 'web', instance: 'inst_b', build: 'build_1', stream: 'stdout', timeMs: t, line: 'npm ci' },
      { service: 'web', instance: 'inst_a', stream: 'stdout', timeMs: t, line: 'listening on 8080' },
      { service: 'web', instance: 'inst_b', stream: 'stderr', timeMs: t + 1, line: 'DATABASE_URL is not set' },
    ]);
    const at = (ms: number) => new Date(ms).toISOString();
    const logs = await run(['logs', 'web']);
    assert.deepEqual(logs, { exitCode: 0, stdout: `${at(t)} inst_a stdout listening on 8080\n${at(t + 1)} inst_b stderr DATABASE_URL is not set\n`, stderr: '' });
    assert.equal((await run(['logs', 'web', '--tail', '1'])).stdout, `${at(t + 1)} inst_b stderr DATABASE_URL is not set\n`);
    assert.equal((await run(['logs', 'web', '--instance', 'inst_a', '--since', '10m'])).stdout, `${at(t)} inst_a stdout listening on 8080\n`);
    assert.equal((await run(['logs', 'web', '--build'])).stdout, `${at(t)} build_1 stdout npm ci\n`);
    assert.equal((await run(['logs', 'web', '--since', 'lately'])).exitCode, 2);
  });

  test('logs -f streams lines through print until the signal aborts', async () => {
    const abort = new AbortController();
    const seen: string[] = [];
    const result = await run(['logs', 'web', '-f', '--tail', '1'], {
      signal: abort.signal,
      print: (text) => {
        seen.push(text);
        // The first line is the tail; the second was printed after the command started.
        if (seen.length === 1) h.api.store.logs.append([{ service: 'web', instance: 'inst_a', stream: 'stdout', timeMs: Date.now(), line: 'a new line' }]);
        if (seen.length === 2) abort.abort();
      },
    });
    assert.deepEqual(result, { exitCode: 0, stdout: '', stderr: '' });
    assert.equal(seen.length, 2);
    assert.match(seen[0]!, /^\S+ inst_b stderr DATABASE_URL is not set\n$/);
    assert.match(seen[1]!, /^\S+ inst_a stdout a new line\n$/);
  });

  test('rollback makes the last release that succeeded desired again, and waits', async () => {
    const result = await run(['rollback', 'web']);
    assert.equal(result.exitCode, 0, result.stderr);
    assert.match(result.stdout, /^web: rolling back to release \d+ as generation 6\n/);
    assert.ok(result.stdout.endsWith('web: running\n'));
    const json = JSON.parse((await run(['rollback', 'web', '--to', '3', '--no-wait', '--json'])).stdout);
    assert.deepEqual([json.name, json.toGeneration, json.generation, json.service.image], ['web', 3, 7, 'nginx:2']);
    assert.deepEqual(await run(['rollback', 'web', '--to', '99']), { exitCode: 1, stdout: '', stderr: 'forge rollback: E_NOT_FOUND: web has no release 99 (see forge list)\n' });
  });

  test('a provider that is not configured: which one, and what to set', async () => {
    assert.deepEqual(await run(['deploy', '--name', 'c', '--image', 'x', '--provider', 'cloud']), {
      exitCode: 1, stdout: '',
      stderr: 'forge deploy: E_COMPUTE_NOT_CONFIGURED: provider cloud is not configured on this control plane: PROJECT_ID and CLOUD_API_HOST are not set; next step: set PROJECT_ID and CLOUD_API_HOST where `forge server` runs, then restart it\n',
    });
  });

  test('a service that fails: exit 1 with the reason and the last events', async () => {
    // fly counts as configured in this API, but the loop has no fly provider: the controller fails it.
    const result = await run(['deploy', '--name', 'flyer', '--image', 'x', '--provider', 'fly']);
    assert.equal(result.exitCode, 1);
    assert.ok(result.stdout.endsWith('flyer: failed\n'), result.stdout);
    assert.match(result.stderr, /^flyer failed: Failed: provider fly is not configured on this control plane\n {2}last events:\n( {4}\S+ {2}(Normal|Warning) {2}\w+: .*\n)+$/);
    assert.match(result.stderr, /Warning {2}PhaseFailed: provider fly is not configured on this control plane\n$/);
  });

  test('delete: --yes, or yes on the terminal', async () => {
    assert.deepEqual(await run(['delete', 'api', '--yes']), {
      exitCode: 0, stderr: '', stdout: 'deleting api (generation 1, 1 instance); the control plane destroys it in the background\n',
    });
    const asked: string[] = [];
    const json = await run(['delete', 'flyer', '--json'], { isTTY: true, confirm: async (q) => { asked.push(q); return true; } });
    assert.deepEqual([asked, JSON.parse(json.stdout).deleted.name], [['Delete service flyer and destroy its instances?'], 'flyer']);
    assert.deepEqual(await run(['delete', 'api', '-y']), { exitCode: 1, stdout: '', stderr: 'forge delete: E_NOT_FOUND: no service "api" (see forge list)\n' });
  });

  test('a wrong key: unauthorized, with the next step', async () => {
    assert.deepEqual(await run(['list'], { env: { FORGE_API_KEY: 'ik_wrong' } }), {
      exitCode: 1, stdout: '', stderr: 'forge list: E_UNAUTHORIZED: unauthorized: set FORGE_API_KEY or run forge login\n',
    });
  });
});
