// forge releases, agents, status, scale and events -f through runCli against a
// live API whose loop runs the world provider (issue 17.2).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cliHarness, type CliHarness } from './helpers.ts';

describe('fleet commands against a live API', () => {
  let h: CliHarness;
  before(async () => {
    h = await cliHarness();
    assert.equal((await h.run(['deploy', '--name', 'web', '--image', 'nginx:1', '--port', '80'])).exitCode, 0);
    assert.equal((await h.run(['update', 'web', '--image', 'nginx:2'])).exitCode, 0);
  });
  after(() => h.close());

  test('releases: a table, newest first, the current one starred', async () => {
    const result = await h.run(['releases', 'web']);
    assert.equal(result.exitCode, 0, result.stderr);
    const lines = result.stdout.split('\n');
    assert.match(lines[0]!, /^ # +GENERATION +REVISION +STATUS +CREATED +CAUSE$/);
    assert.match(lines[1]!, /^\*2 +2 +nginx:2 +good +\S+$/);
    assert.match(lines[2]!, /^ 1 +1 +nginx:1 +good +\S+$/);
    const json = JSON.parse((await h.run(['releases', 'web', '--json'])).stdout) as { releases: unknown[] };
    assert.equal(json.releases.length, 2);
  });

  test('scale: replicas change and the command waits', async () => {
    const result = await h.run(['scale', 'web', '2']);
    assert.equal(result.exitCode, 0, result.stderr);
    assert.match(result.stdout, /^updated web \(generation 3, \w+\)\n(.*\n)*web: running\n$/);
    const service = (await h.api.app.inject({ method: 'GET', url: '/api/compute/services/web', headers: h.api.auth() })).json();
    assert.equal(service.replicas, 2);
    assert.deepEqual(await h.run(['scale', 'web', 'two']), { exitCode: 2, stdout: '', stderr: 'forge scale: replicas must be a whole number ≥ 0, got "two"\nusage: forge scale NAME REPLICAS [--no-wait] [--timeout 5m] [--json]\n' });
  });

  test('agents: none yet, then one in a table', async () => {
    assert.deepEqual(await h.run(['agents']), { exitCode: 0, stderr: '', stdout: 'no agents registered\n' });
    const agent = h.api.store.agents.register({ name: 'node-1', tokenHash: 'h', addresses: ['10.0.0.3'], labels: {}, capacity: { cpus: 2, memoryBytes: 2 ** 31 } });
    const result = await h.run(['agents']);
    assert.equal(result.exitCode, 0, result.stderr);
    assert.match(result.stdout, new RegExp(`^ID +NAME +STATE +CAPACITY +IMAGES\\n${agent.id} +node-1 +online +2 CPU, 2048 MB +-\\n$`));
  });

  test('status: services by status, agents, providers', async () => {
    const result = await h.run(['status']);
    assert.equal(result.exitCode, 0, result.stderr);
    assert.match(result.stdout, /^services: 1 \(1 running\)\nagents: 1 \(1 online\)\nproviders: .*agent configured/);
  });

  test('events -f: what there is, then new events as they come, until interrupted', async () => {
    const stop = new AbortController();
    const lines: string[] = [];
    const following = h.run(['events', 'web', '-f'], { signal: stop.signal, print: (text) => lines.push(text) });
    const deadline = Date.now() + 10_000;
    while (lines.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const before = lines.length;
    assert.ok(before > 0, 'the existing events were printed');
    assert.equal((await h.run(['stop', 'web'])).exitCode, 0);
    while (!lines.slice(before).some((l) => /Stop|stopp/i.test(l)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    stop.abort();
    const result = await following;
    assert.equal(result.exitCode, 0);
    assert.ok(lines.slice(before).some((l) => /Stop|stopp/i.test(l)), lines.join(''));
    const ids = lines.join('').split('\n').filter((l) => l !== '');
    assert.equal(new Set(ids).size, ids.length, 'an event was printed twice');
  });
});
