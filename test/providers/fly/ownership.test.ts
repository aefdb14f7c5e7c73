// Defects 13.1 (Fly): the orphan sweep and every write touch only machines carrying
// this control plane's `forge_owner` metadata. Machines with Forge's labels for this
// project but another owner, or none (made before owner labels: the migration case),
// are reported, never destroyed or adopted; an app is deleted only when nothing else
// lives in it. The whole reconciler against the Fly fake (contract-checked).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertNoContractViolations } from '../../fakes/fly.ts';
import { FLY_HARNESS_OWNER, flySpec, startFlyHarness, type FlyHarness } from '../../fakes/fly-harness.ts';

const live = (h: FlyHarness, app: string) => h.fake.liveMachines(app).map((m) => m.id).sort();
const meta = (key: string, replica: string, owner?: string) => ({
  forge_key: key, forge_replica: replica, forge_generation: '1', forge_hash: 'h-old', forge_project: 'p1', ...(owner ? { forge_owner: owner } : {}),
});

async function passes(h: FlyHarness, n = 4): Promise<void> {
  for (let i = 0; i < n; i++) {
    await h.loop.idle();
    await h.provider.resync(true);
    await h.loop.resync();
    await h.loop.idle();
  }
}

test('Defects 13.1: the Fly orphan sweep and writes touch only machines with this control plane\'s owner label', async () => {
  const reported: string[] = [];
  const h = await startFlyHarness({ provider: { report: (m: string) => reported.push(m) } });
  try {
    // Nobody here desires `ghost` or `other`: one machine from before owner labels, one of another control plane.
    const legacy = h.fake.createOrphan('ghost-p1', { metadata: meta('ghost', '0') });
    const theirs = h.fake.createOrphan('other-p1', { metadata: meta('other', '0', 'cp_ffffffffffffffff') });
    // A desired service whose app already holds a legacy machine.
    const squatter = h.fake.createOrphan('api-p1', { metadata: meta('api', '0') });
    h.apply([flySpec('web'), flySpec('api')]);
    await passes(h);

    assert.deepEqual(live(h, 'ghost-p1'), [legacy.id], 'a machine without an owner label is not destroyed');
    assert.deepEqual(live(h, 'other-p1'), [theirs.id], 'another control plane\'s machine is not destroyed');
    assert.equal(h.fake.world.apps.has('ghost-p1'), true);
    for (const id of [legacy.id, theirs.id, squatter.id]) assert.ok(reported.some((m) => m.includes(id)), `${id} reported: ${JSON.stringify(reported)}`);
    assert.deepEqual(live(h, 'api-p1'), [squatter.id], 'no machine is created beside one that is not ours, and it is not adopted');
    const api = h.store.status.get('api');
    assert.equal(api?.lastError?.code, 'E_CONFLICT');
    assert.match(api?.lastError?.message ?? '', new RegExp(`forge_owner=${FLY_HARNESS_OWNER}`));
    assert.equal(h.fake.liveMachines('web-p1').length, 1);
    assert.equal(h.fake.liveMachines('web-p1')[0]!.config['metadata'] !== undefined, true);

    // Deleting our own service whose app also holds someone else's machine: ours goes, theirs and the app stay.
    const intruder = h.fake.createOrphan('web-p1', { metadata: meta('web', '5') });
    h.remove('web');
    await passes(h);
    assert.deepEqual(live(h, 'web-p1'), [intruder.id]);
    assert.equal(h.fake.world.apps.has('web-p1'), true);
    assert.equal(h.store.services.get('web'), null, 'our service is gone');
    assertNoContractViolations(h.fake);
  } finally {
    await h.close();
  }
});
