// The whole reconciler (store, controller, loop) with the real Fly provider and
// client against the Fly fake. Every request and response is validated against
// Fly's OpenAPI contract; each test ends by asserting there was no violation.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { assertNoContractViolations } from '../fakes/fly.ts';
import { FLY_HARNESS_OWNER, flySpec, startFlyHarness, type FlyHarness, type FlyHarnessOptions } from '../fakes/fly-harness.ts';

async function withHarness(fn: (h: FlyHarness) => Promise<void>, opts: FlyHarnessOptions = {}): Promise<void> {
  const h = await startFlyHarness(opts);
  try {
    await fn(h);
    assertNoContractViolations(h.fake);
  } finally {
    await h.close();
  }
}

const machineIds = (h: FlyHarness, app: string) => h.fake.liveMachines(app).map((m) => m.id).sort();
const status = (h: FlyHarness, name: string) => {
  const row = h.store.status.get(name);
  return row && { phase: row.phase, url: row.url, lastError: row.lastError?.code ?? null };
};

describe('reconciler + Fly provider against the fake', () => {
  it('deploys from an image to running with two public IPs, then updates, stops, starts and deletes in place', () =>
    withHarness(async (h) => {
      h.apply([flySpec('web')]);
      await h.converge();
      assert.deepEqual(status(h, 'web'), { phase: 'running', url: 'https://web-p1.fly.dev', lastError: null });
      const app = h.fake.world.apps.get('web-p1')!;
      assert.deepEqual(app.ips.map((ip) => ip.type).sort(), ['shared_v4', 'v6']);
      const [id] = machineIds(h, 'web-p1');
      assert.ok(id);
      assert.equal(h.fake.liveMachines('web-p1')[0]!.state, 'started');

      // Image and env change: updated in place, same machine.
      h.apply([flySpec('web', { image: 'registry.example/app:2', env: { MODE: 'canary' } })]);
      await h.converge();
      assert.deepEqual(machineIds(h, 'web-p1'), [id]);
      const updated = h.fake.liveMachines('web-p1')[0]!;
      assert.equal(updated.config['image'], 'registry.example/app:2');
      assert.deepEqual(updated.config['env'], { MODE: 'canary' });
      assert.equal(status(h, 'web')?.phase, 'running');

      // Stop and start keep the machine.
      h.store.services.setState('web', 'stopped');
      h.loop.nudge('web');
      await h.converge();
      assert.deepEqual(status(h, 'web'), { phase: 'stopped', url: 'https://web-p1.fly.dev', lastError: null });
      assert.equal(h.fake.liveMachines('web-p1')[0]!.state, 'stopped');
      h.store.services.setState('web', 'running');
      h.loop.nudge('web');
      await h.converge();
      assert.equal(status(h, 'web')?.phase, 'running');
      assert.deepEqual(machineIds(h, 'web-p1'), [id]);
      assert.equal(h.fake.liveMachines('web-p1')[0]!.state, 'started');

      // A replicas-only change relabels the first machine (no restart) and adds a second.
      const versionBefore = h.fake.liveMachines('web-p1')[0]!.version;
      h.apply([flySpec('web', { image: 'registry.example/app:2', env: { MODE: 'canary' }, replicas: 2 })]);
      await h.converge();
      const machines = h.fake.liveMachines('web-p1');
      assert.equal(machines.length, 2);
      const first = machines.find((m) => m.id === id)!;
      assert.equal(first.version, versionBefore);
      assert.ok(h.fake.requests.some((q) => q.method === 'PATCH' && q.path === `/v1/apps/web-p1/machines/${id}/metadata`));

      // Delete: the app goes, then the row.
      h.remove('web');
      await h.converge();
      assert.equal(h.fake.world.apps.has('web-p1'), false);
      assert.equal(h.store.services.get('web'), null);
      assert.equal(h.store.status.get('web'), null);
    }));

  it('recreates a machine destroyed behind its back, after a resync', () =>
    withHarness(async (h) => {
      h.apply([flySpec('api')]);
      await h.converge();
      const [before] = machineIds(h, 'api-p1');
      h.fake.destroyMachineBehindBack('api-p1', before!);
      await h.converge();
      const after = machineIds(h, 'api-p1');
      assert.equal(after.length, 1);
      assert.notEqual(after[0], before);
      assert.equal(status(h, 'api')?.phase, 'running');
    }));

  it('destroys orphans carrying this control plane\'s owner label: an extra replica, and a whole app nobody desires', () =>
    withHarness(async (h) => {
      h.apply([flySpec('api')]);
      await h.converge();
      const [kept] = machineIds(h, 'api-p1');
      const meta = (key: string, replica: string) => ({ forge_key: key, forge_replica: replica, forge_generation: '1', forge_hash: 'stale', forge_project: 'p1', forge_owner: FLY_HARNESS_OWNER });
      const extra = h.fake.createOrphan('api-p1', { metadata: meta('api', '1') });
      h.fake.createOrphan('ghost-p1', { metadata: meta('ghost', '0') });
      const foreign = h.fake.createOrphan('other-app', { metadata: { ...meta('ghost', '0'), forge_project: 'not-ours' } });
      await h.converge();
      assert.deepEqual(machineIds(h, 'api-p1'), [kept]);
      assert.equal(h.fake.world.machines.get(extra.id)!.state === 'destroyed' || h.fake.world.machines.get(extra.id)!.state === 'destroying', true);
      assert.equal(h.fake.world.apps.has('ghost-p1'), false);
      // Another project's machine is not Forge's to touch.
      assert.deepEqual(machineIds(h, 'other-app'), [foreign.id]);
      assert.equal(status(h, 'api')?.phase, 'running');
    }));

  it('refuses a region change with a terminal error in the status, leaving the machine alone', () =>
    withHarness(async (h) => {
      h.apply([flySpec('web')]);
      await h.converge();
      const [id] = machineIds(h, 'web-p1');
      h.apply([flySpec('web', { region: 'ams' })]);
      await h.converge();
      assert.deepEqual(status(h, 'web'), { phase: 'failed', url: 'https://web-p1.fly.dev', lastError: 'E_REGION_IMMUTABLE' });
      assert.deepEqual(machineIds(h, 'web-p1'), [id]);
      assert.equal(h.fake.liveMachines('web-p1')[0]!.region, 'iad');
    }));

  it('with 20% injected faults (429, 500, resets), 50 services converge with no duplicate apps, machines or IPs', () =>
    withHarness(
      async (h) => {
        h.fake.setFaults({ rate: 0.2, kinds: ['429', '500', 'reset'] });
        const names = Array.from({ length: 50 }, (_, i) => `svc${String(i).padStart(2, '0')}`);
        h.apply(names.map((n) => flySpec(n)));
        const { passes } = await h.converge(60);
        h.fake.setFaults({ rate: 0 });
        // One more clean pass must find nothing to do.
        await h.converge(3);

        const apps = [...h.fake.world.apps.keys()].sort();
        assert.deepEqual(apps, names.map((n) => `${n}-p1`));
        for (const n of names) {
          assert.equal(h.fake.liveMachines(`${n}-p1`).length, 1, `${n}: exactly one machine`);
          const ips = h.fake.world.apps.get(`${n}-p1`)!.ips.map((ip) => (ip.ip.includes(':') ? 'v6' : 'v4')).sort();
          assert.deepEqual(ips, ['v4', 'v6'], `${n}: one IPv4 and one IPv6`);
          assert.equal(h.store.status.get(n)?.phase, 'running', `${n} running`);
        }
        // Not even transiently: every machine the fake ever made is one of the 50.
        assert.equal(h.fake.world.machines.size, 50);
        const requests = h.fake.requests.length;
        const retries = h.client.stats.retries;
        console.log(`fly-loop faults: ${h.fake.faultsInjected} faults injected over ${requests} requests; ${retries} client retries, ${h.loopErrors} loop retries, ${passes} passes`);
        assert.ok(h.fake.faultsInjected > 0);
        // Bounded: retries track the faults (one retry per fault at most, plus the loop's re-tries of a pass).
        assert.ok(retries <= h.fake.faultsInjected, `client retries ${retries} > faults ${h.fake.faultsInjected}`);
        assert.ok(h.loopErrors <= h.fake.faultsInjected, `loop retries ${h.loopErrors} > faults ${h.fake.faultsInjected}`);
      },
      { concurrency: 16, fake: { seed: 7 } },
    ));
});
