import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { assertNoContractViolations } from '../../fakes/fly.ts';
import { PROJECT, rig, spec } from './helpers.ts';

const SERVICES = 50;
const MAX_ROUNDS = 30;

describe('fly provider under injected faults', () => {
  it('converges 50 creates with 20% faults: no duplicate apps or machines, bounded retries', async () => {
    const r = await rig({ fake: { seed: 7, faults: { rate: 0.2, kinds: ['429', '500', 'reset'] } } });
    try {
      const keys = Array.from({ length: SERVICES }, (_, i) => `svc-${i}`);
      let pending = [...keys];
      let rounds = 0;
      let failures = 0;
      // A stand-in for the reconcile loop: every pass retries what is not done yet.
      while (pending.length > 0 && rounds < MAX_ROUNDS) {
        rounds += 1;
        const results = await Promise.allSettled(
          pending.map((key) => r.provider.apply({ kind: 'create', key, replica: 0, spec: spec(key), hash: 'h1', generation: 1, reason: 'new' }, { secrets: { TOKEN: `t-${key}` } })),
        );
        failures += results.filter((x) => x.status === 'rejected').length;
        pending = pending.filter((_, i) => results[i]!.status === 'rejected');
      }
      assert.deepEqual(pending, []);
      r.fake.setFaults({ rate: 0 });

      const apps = [...r.fake.world.apps.values()].filter((a) => a.org === r.fake.org);
      assert.deepEqual(apps.map((a) => a.name).sort(), keys.map((k) => `${k}-${PROJECT}`).sort());
      for (const app of apps) {
        const machines = r.fake.liveMachines(app.name);
        assert.equal(machines.length, 1, `${app.name} has ${machines.length} machines`);
        const v4 = app.ips.filter((ip) => ip.type === 'shared_v4').length;
        const v6 = app.ips.filter((ip) => ip.type === 'v6').length;
        assert.deepEqual([v4 >= 1, v6 >= 1], [true, true], `${app.name} IPs`);
      }
      await r.provider.resync(true);
      const observed = await r.provider.observe();
      assert.equal(observed.length, SERVICES);
      assert.ok(observed.every((o) => o.instances.length === 1));

      // Faults were really injected, and recovering from them stayed within bounds.
      assert.ok(r.fake.faultsInjected > 20, `only ${r.fake.faultsInjected} faults injected`);
      assert.ok(rounds <= 10, `took ${rounds} rounds`);
      assert.ok(r.client.stats.retries <= r.client.stats.requests * 0.5, `retries ${r.client.stats.retries} of ${r.client.stats.requests}`);
      assert.ok(failures < SERVICES, `${failures} failed applies`);
      assertNoContractViolations(r.fake);
    } finally {
      await r.close();
    }
  });
});
