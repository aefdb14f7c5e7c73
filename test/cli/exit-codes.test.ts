// Issue 13 items 9, 10 and 12 through runCli against a live API whose loop runs
// the world provider: apply and deploy exit non-zero whenever the set does not
// end running (also when nothing changed), deploy --json prints the state after
// waiting, and restart / start-on-failed roll the same spec out as a new
// generation. A fly service fails here for good: fly counts as configured in the
// API, but the loop has no fly provider.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ServiceJson } from '../../api/service-json.ts';
import { cliHarness, type CliHarness } from './helpers.ts';

describe('exit codes and final states of apply, deploy, restart and start', () => {
  let h: CliHarness;
  before(async () => {
    h = await cliHarness();
    mkdirSync(join(h.home, 'set'));
    writeFileSync(join(h.home, 'set', 'ok.yaml'), 'name: ok\nimage: nginx:1\nport: 80\n');
    writeFileSync(join(h.home, 'set', 'broken.yaml'), 'name: broken\nimage: nginx:1\nport: 80\nprovider: fly\nregion: iad\n');
  });
  after(() => h.close());
  const apiGet = async (name: string): Promise<ServiceJson> =>
    (await h.api.app.inject({ method: 'GET', url: `/api/compute/services/${name}`, headers: h.api.auth() })).json();

  test('apply of a set with a failing service exits 1, and again when nothing changed', async () => {
    const first = await h.run(['apply', '-f', 'set']);
    assert.equal(first.exitCode, 1, first.stdout);
    assert.match(first.stderr, /^broken failed: /);
    const again = await h.run(['apply', '-f', 'set']);
    assert.equal(again.exitCode, 1, `unchanged and failed must not exit 0: ${again.stdout}`);
    assert.match(again.stdout, /^no changes \(2 unchanged\)\n/);
    assert.match(again.stderr, /^broken failed: /);
  });

  test('apply of an unchanged set that runs exits 0', async () => {
    mkdirSync(join(h.home, 'good'));
    writeFileSync(join(h.home, 'good', 'ok.yaml'), 'name: ok\nimage: nginx:1\nport: 80\n');
    const result = await h.run(['apply', '-f', 'good', '--source', `file:${join(h.home, 'set')}`]);
    assert.equal(result.exitCode, 0, result.stderr);
  });

  test('deploy --json prints the state after waiting, not the snapshot before', async () => {
    const result = await h.run(['deploy', '--name', 'web', '--image', 'nginx:1', '--port', '80', '--json']);
    assert.equal(result.exitCode, 0, result.stderr);
    const body = JSON.parse(result.stdout) as ServiceJson;
    assert.deepEqual([body.name, body.status, body.observedGeneration], ['web', 'running', body.generation]);
  });

  test('deploy of an unchanged, failed service exits 1', async () => {
    const result = await h.run(['deploy', '--name', 'broken', '--image', 'nginx:1']);
    assert.equal(result.exitCode, 1, result.stdout);
    assert.match(result.stderr, /broken failed: /);
  });

  test('POST /restart: a new generation of the same spec; unknown service 404', async () => {
    const before = await apiGet('ok');
    const reply = await h.api.app.inject({ method: 'POST', url: '/api/compute/services/ok/restart', headers: h.api.auth() });
    assert.equal(reply.statusCode, 200, reply.body);
    const after = reply.json() as ServiceJson;
    assert.equal(after.generation, before.generation + 1);
    const { generation: _a, observedGeneration: _b, status: _c, updatedAt: _d, conditions: _e, instances: _f, ...same } = after as ServiceJson & Record<string, unknown>;
    const { generation: _g, observedGeneration: _h, status: _i, updatedAt: _j, conditions: _k, instances: _l, ...was } = before as ServiceJson & Record<string, unknown>;
    assert.deepEqual(same, was);
    const audit = h.api.store.audit.list({ limit: 5 }).map((a) => [a.action, a.target]);
    assert.deepEqual(audit[0], ['service.restart', 'ok']);
    const missing = await h.api.app.inject({ method: 'POST', url: '/api/compute/services/nope/restart', headers: h.api.auth() });
    assert.equal(missing.statusCode, 404);
  });

  test('forge restart waits until the new generation runs', async () => {
    const result = await h.run(['restart', 'ok']);
    assert.equal(result.exitCode, 0, result.stderr);
    assert.match(result.stdout, /^ok: restarting as generation \d+\n(.*\n)*ok: running\n$/);
    const service = await apiGet('ok');
    assert.deepEqual([service.status, service.observedGeneration], ['running', service.generation]);
  });

  test('start on a failed service retries it as a new generation (start on a running one changes nothing)', async () => {
    const failed = await apiGet('broken');
    assert.equal(failed.status, 'failed');
    const started = await h.run(['start', 'broken', '--json']);
    assert.equal(started.exitCode, 0, started.stderr);
    assert.equal((JSON.parse(started.stdout) as ServiceJson).generation, failed.generation + 1);
    const again = await h.run(['start', 'broken']);
    assert.equal(again.stdout, `broken: retrying the failed release as generation ${failed.generation + 2} (follow it with forge events broken -f)\n`);
    const running = await apiGet('ok');
    await h.run(['start', 'ok']);
    assert.equal((await apiGet('ok')).generation, running.generation);
  });
});
