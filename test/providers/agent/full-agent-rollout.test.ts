// A rolling update on a full agent (issue 13 item 13), with a real agent: when the
// new instance has no room beside the old one, the replica is replaced stop-then-start,
// a condition says so, and the shortage is one event, not one per reconcile pass.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { specHash } from '../../../specs/index.ts';
import type { ServiceSpec } from '../../../specs/types.ts';
import { eventually, httpText, loadExample, startControlPlane, type ControlPlane } from './harness.ts';

const needsRoot = process.getuid?.() === 0 ? false : 'needs root for cgroups and namespaces';
const GB = 1024 ** 3;

describe('rolling update on a full agent', { skip: needsRoot }, () => {
  let cp: ControlPlane;
  let one: ServiceSpec;
  let two: ServiceSpec;

  before(async () => {
    cp = await startControlPlane({ heartbeatTimeoutMs: 1_500, leaseMs: 5_000 });
    const hello = await loadExample('node-hello');
    one = { ...hello, name: 'full-one' };
    two = { ...hello, name: 'full-two' };
  });
  after(async () => {
    await cp?.close();
  });

  async function runningOn(key: string, hash: string) {
    return eventually(`${key} running release ${hash.slice(0, 12)}`, 60_000, async () => {
      const observed = await cp.observed(key);
      const status = cp.store.status.get(key);
      const [only] = observed?.instances ?? [];
      return status?.phase === 'running' && observed?.instances.length === 1 && only?.hash === hash && only.health === 'healthy' ? only : undefined;
    });
  }

  test('an env change of one of two services filling a 1-CPU agent rolls out stop-then-start and says so', async () => {
    // Two services of 0.5 CPU each fill the agent: no room for a third instance beside them.
    await cp.startAgent('full', { portRange: { from: 23_600, to: 23_649 }, capacity: { cpus: 1, memoryBytes: 2 * GB } });
    cp.deploy([one, two]);
    await runningOn('full-one', specHash(one));
    await runningOn('full-two', specHash(two));

    const next: ServiceSpec = { ...one, env: { ...one.env, GREETING: 'v2' } };
    cp.deploy([next, two]);
    const fresh = await runningOn('full-one', specHash(next));
    assert.equal(await httpText(fresh.address!, '/health'), '200 ok');

    const rollout = cp.store.status.get('full-one')?.conditions.find((c) => c.type === 'Rollout');
    assert.equal(rollout?.status, 'True');
    assert.equal(rollout?.reason, 'StopThenStart');
    assert.match(rollout?.message ?? '', /no agent has room for a new instance of full-one beside the old one: needs 0\.5 CPU, the most free on any agent (with runtime \S+ )?is 0/);

    const shortages = cp.store.events.list('full-one').filter((e) => e.message.includes('E_UNSCHEDULABLE') || e.reason === 'NoRoomToSurge');
    assert.equal(shortages.length, 1, `one event for the shortage, got ${JSON.stringify(shortages)}`);
    assert.equal((await cp.observed('full-two'))?.instances.length, 1, 'the other service was not touched');
  });
});
