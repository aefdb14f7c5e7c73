// Release commands on Fly, through the whole reconciler against the Fly fake (every request
// and response checked against Fly's OpenAPI contract): a one-shot machine of the release's
// image (restart: no, auto_destroy, the command as init.cmd, no services) runs before any
// machine of the release; its exit code decides whether the rollout proceeds.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { assertNoContractViolations } from '../../fakes/fly.ts';
import { flySpec, startFlyHarness, type FlyHarness } from '../../fakes/fly-harness.ts';
import type { JsonObject } from '../../fakes/fly-world.ts';

async function withHarness(fn: (h: FlyHarness) => Promise<void>): Promise<void> {
  const h = await startFlyHarness();
  try {
    await fn(h);
    assertNoContractViolations(h.fake);
  } finally {
    await h.close();
  }
}

const release = (command: string) => ({ release: { command, timeoutMs: 60_000 } });
const isOneShot = (config: JsonObject) => (config['restart'] as JsonObject | undefined)?.['policy'] === 'no';

describe('release commands on Fly', () => {
  it('runs a one-shot machine of the release image before any service machine, once per release', () =>
    withHarness(async (h) => {
      h.apply([flySpec('web', release('./migrate'))]);
      await h.converge();
      assert.equal(h.store.status.get('web')?.phase, 'running');
      const all = [...h.fake.world.machines.values()].sort((a, b) => a.createdAt - b.createdAt || (isOneShot(a.config) ? -1 : 1));
      const shots = all.filter((m) => isOneShot(m.config));
      assert.equal(shots.length, 1);
      const shot = shots[0]!;
      assert.deepEqual({
        image: shot.config['image'], init: shot.config['init'], restart: shot.config['restart'], autoDestroy: shot.config['auto_destroy'],
        services: shot.config['services'], state: shot.state,
      }, { image: 'registry.example/app:1', init: { cmd: ['/bin/sh', '-c', './migrate'] }, restart: { policy: 'no' }, autoDestroy: true, services: undefined, state: 'destroyed' });
      assert.equal(all[0], shot, 'the one-shot machine was not the first machine created');
      assert.equal(h.fake.liveMachines('web-p1').length, 1, 'the one-shot machine is not counted as an instance');

      // A second converge runs nothing again.
      await h.converge();
      assert.equal([...h.fake.world.machines.values()].filter((m) => isOneShot(m.config)).length, 1);
    }));

  it('a failing one leaves the running release alone and fails the new one with its exit code', () =>
    withHarness(async (h) => {
      h.apply([flySpec('web', release('./migrate'))]);
      await h.converge();
      const before = h.fake.liveMachines('web-p1').map((m) => `${m.id}:${m.config['image']}`);
      h.fake.world.oneShotExitCode = () => 3;
      h.apply([flySpec('web', { image: 'registry.example/app:2', ...release('./migrate') })]);
      await h.converge();
      const status = h.store.status.get('web')!;
      assert.equal(status.phase, 'failed');
      assert.match(status.lastError?.message ?? '', /the release command exited with code 3/);
      assert.deepEqual(h.fake.liveMachines('web-p1').map((m) => `${m.id}:${m.config['image']}`), before, 'the running release was touched');
    }));
});
