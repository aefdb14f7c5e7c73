// Chaos: the whole reconciler with the real Fly client and provider against the
// Fly fake answering every call after 200 ms, 20% of them with a 429, a 500 or a
// reset. 30 services are created, then 10 updated, 5 scaled and 5 deleted under
// the same weather; all converge with no duplicate app or machine ever made.
// (test/reconciler/fly-loop.test.ts covers faults without latency.)

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertNoContractViolations } from '../fakes/fly.ts';
import { flySpec, startFlyHarness } from '../fakes/fly-harness.ts';

test('Fly with 20% faults and 200 ms latency: creates, updates, scales and deletes all converge, nothing duplicated', { timeout: 240_000 }, async () => {
  const h = await startFlyHarness({
    concurrency: 32,
    fake: { seed: 11, transitionMs: 10, faults: { rate: 0.2, latencyMs: 200, kinds: ['429', '500', 'reset'] } },
  });
  try {
    const names = Array.from({ length: 30 }, (_, i) => `svc${String(i).padStart(2, '0')}`);
    const desired = new Map(names.map((n) => [n, flySpec(n)]));
    h.apply([...desired.values()]);
    await h.converge(80);

    names.slice(0, 10).forEach((n) => desired.set(n, flySpec(n, { image: 'registry.example/app:2', env: { REV: '2' } })));
    names.slice(10, 15).forEach((n) => desired.set(n, flySpec(n, { replicas: 2 })));
    h.apply([...desired.values()]);
    for (const n of names.slice(15, 20)) {
      desired.delete(n);
      h.remove(n);
    }
    await h.converge(80);
    h.fake.setFaults({ rate: 0, latencyMs: 0 });
    await h.converge(3); // a clean pass finds nothing left to do

    assert.deepEqual([...h.fake.world.apps.keys()].sort(), [...desired.keys()].map((n) => `${n}-p1`).sort());
    const wrong: string[] = [];
    for (const [name, spec] of desired) {
      const machines = h.fake.liveMachines(`${name}-p1`);
      if (machines.length !== spec.replicas) wrong.push(`${name}: ${machines.length} machines, want ${spec.replicas}`);
      if (machines.some((m) => m.config['image'] !== spec.image)) wrong.push(`${name}: a machine runs another image`);
      if (h.store.status.get(name)?.phase !== 'running') wrong.push(`${name}: ${h.store.status.get(name)?.phase}`);
    }
    for (const name of names.slice(15, 20)) if (h.store.services.get(name) !== null) wrong.push(`${name}: row left after delete`);
    assert.deepEqual(wrong, []);
    // Every machine ever created: one per first-wave service, plus one per scale-up; updates happened in place.
    assert.equal(h.fake.world.machines.size, 30 + 5, 'no machine was ever created twice');
    assert.ok(h.fake.faultsInjected > 20, `faults injected: ${h.fake.faultsInjected}`);
    assertNoContractViolations(h.fake);
  } finally {
    await h.close();
  }
});
