import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Action } from '../../../providers/types.ts';
import type { ServiceSpec } from '../../../specs/types.ts';
import { assertNoContractViolations } from '../../fakes/fly.ts';
import { OWNER, PROJECT, rig, spec, type Rig } from './helpers.ts';

const noSecrets = { secrets: {} };
const create = (key: string, s: ServiceSpec, hash: string): Action => ({ kind: 'create', key, replica: 0, spec: s, hash, generation: 1, reason: 'new' });
const relabel = (key: string, instanceId: string, s: ServiceSpec, hash: string): Action => ({
  kind: 'update', key, instanceId, replica: 0, spec: s, hash, generation: 2, changed: [], reason: 'relabel only',
});

async function withRig(fn: (r: Rig) => Promise<void>): Promise<void> {
  const r = await rig();
  try {
    await fn(r);
    assertNoContractViolations(r.fake);
  } finally {
    await r.close();
  }
}

describe('fly provider relabels (update with nothing changed)', () => {
  it('reports the spec it wrote, so diff can name changed fields', () =>
    withRig(async ({ provider }) => {
      const s = spec('web');
      await provider.apply(create('web', s, 'h1'), noSecrets);
      const [observed] = await provider.observe(['web']);
      assert.deepEqual(observed?.instances.map((i) => i.spec), [s]);
    }));

  it('writes only metadata: same version, no restart, new hash and generation observed', () =>
    withRig(async ({ provider, fake }) => {
      const s = spec('web');
      const { instanceId } = await provider.apply(create('web', s, 'h1'), noSecrets);
      const before = fake.liveMachines('web-p1')[0]!;
      const version = before.version;
      const eventsBefore = before.events.length;
      const res = await provider.apply(relabel('web', instanceId!, { ...s, replicas: 1 }, 'h2'), noSecrets);
      assert.equal(res.message, 'relabelled (metadata only, no restart)');
      const after = fake.liveMachines('web-p1')[0]!;
      assert.equal(after.version, version);
      assert.equal(after.state, 'started');
      assert.equal(after.events.length, eventsBefore);
      assert.deepEqual(after.config['metadata'], { forge_key: 'web', forge_replica: '0', forge_generation: '2', forge_hash: 'h2', forge_project: PROJECT, forge_owner: OWNER });
      const writes = fake.requests.filter((q) => q.method !== 'GET' && q.path.startsWith(`/v1/apps/web-p1/machines/${instanceId}`));
      assert.deepEqual(writes.map((q) => `${q.method} ${q.path.slice(`/v1/apps/web-p1/machines/${instanceId}`.length)}`), ['PATCH /metadata']);
      assert.deepEqual((await provider.observe(['web']))[0]?.instances.map((i) => [i.hash, i.generation, i.state]), [['h2', 2, 'running']]);
      // A listing after the relabel agrees and keeps the spec.
      await provider.resync(true);
      assert.deepEqual((await provider.observe(['web']))[0]?.instances.map((i) => [i.hash, i.generation, i.spec?.name]), [['h2', 2, 'web']]);
    }));

  it('falls back to a full in-place update when the machine changed since it was read (412)', () =>
    withRig(async ({ provider, fake }) => {
      const s = spec('web');
      const { instanceId } = await provider.apply(create('web', s, 'h1'), noSecrets);
      const m = fake.liveMachines('web-p1')[0]!;
      fake.world.updateMachine(m, { ...m.config, image: 'registry.example/by-hand:9' }, true);
      await provider.apply(relabel('web', instanceId!, s, 'h2'), noSecrets);
      const calls = fake.requests
        .filter((q) => q.method !== 'GET' && q.path.startsWith(`/v1/apps/web-p1/machines/${instanceId}`))
        .map((q) => `${q.method} ${q.path.endsWith('/metadata') ? 'metadata' : 'machine'} ${q.status}`);
      assert.deepEqual(calls, ['PATCH metadata 412', 'POST machine 200']);
      const after = fake.liveMachines('web-p1')[0]!;
      assert.equal(after.id, instanceId);
      assert.equal(after.config['image'], s.image);
      assert.equal((after.config['metadata'] as Record<string, string>)['forge_hash'], 'h2');
    }));
});
