import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Action } from '../../../providers/types.ts';
import { ForgeError } from '../../../errors/index.ts';
import type { ServiceSpec } from '../../../specs/types.ts';
import { assertNoContractViolations } from '../../fakes/fly.ts';
import { OWNER, PROJECT, rig, spec, type Rig } from './helpers.ts';

const create = (key: string, s: ServiceSpec = spec(key), replica = 0, hash = 'h1'): Action => ({ kind: 'create', key, replica, spec: s, hash, generation: 1, reason: 'new service' });
const update = (key: string, instanceId: string, s: ServiceSpec, hash: string): Action => ({
  kind: 'update', key, instanceId, replica: 0, spec: s, hash, generation: 2, changed: ['image'], reason: 'spec changed',
});
const noSecrets = { secrets: {} };

async function withRig(fn: (r: Rig) => Promise<void>, opts: Parameters<typeof rig>[0] = {}): Promise<void> {
  const r = await rig(opts);
  try {
    await fn(r);
    assertNoContractViolations(r.fake);
  } finally {
    await r.close();
  }
}

describe('fly provider against the fake', () => {
  it('deploys from an image to a running, healthy machine with a shared IPv4 and an IPv6', () =>
    withRig(async ({ provider, fake }) => {
      const res = await provider.apply(create('web'), noSecrets);
      assert.equal(res.url, 'https://web-p1.fly.dev');
      const [observed] = await provider.observe(['web']);
      assert.equal(observed?.url, 'https://web-p1.fly.dev');
      assert.deepEqual(
        observed?.instances.map((i) => [i.id, i.replica, i.hash, i.generation, i.region, i.state, i.health]),
        [[res.instanceId, 0, 'h1', 1, 'iad', 'running', 'healthy']],
      );
      const app = fake.world.apps.get('web-p1')!;
      assert.deepEqual(app.ips.map((ip) => ip.type), ['shared_v4', 'v6']);
      const machine = fake.liveMachines('web-p1')[0]!;
      assert.deepEqual(machine.config['metadata'], { forge_key: 'web', forge_replica: '0', forge_generation: '1', forge_hash: 'h1', forge_project: PROJECT, forge_owner: OWNER });
      assert.deepEqual(machine.config['guest'], { cpu_kind: 'shared', cpus: 1, memory_mb: 512 });
    }));

  it('updates image and env in place: same machine id, new version', () =>
    withRig(async ({ provider, fake }) => {
      const { instanceId } = await provider.apply(create('web'), noSecrets);
      const before = fake.liveMachines('web-p1')[0]!.version;
      const res = await provider.apply(update('web', instanceId!, spec('web', { image: 'registry.example/app:2', env: { MODE: 'canary' } }), 'h2'), noSecrets);
      assert.equal(res.instanceId, instanceId);
      const machines = fake.liveMachines('web-p1');
      assert.equal(machines.length, 1);
      assert.equal(machines[0]!.id, instanceId);
      assert.notEqual(machines[0]!.version, before);
      assert.equal(machines[0]!.config['image'], 'registry.example/app:2');
      assert.deepEqual(machines[0]!.config['env'], { MODE: 'canary' });
      const [observed] = await provider.observe(['web']);
      assert.deepEqual(observed?.instances.map((i) => [i.id, i.hash, i.generation, i.state]), [[instanceId, 'h2', 2, 'running']]);
    }));

  it('re-reads and retries an update whose version went stale', () =>
    withRig(async ({ provider, fake }) => {
      const { instanceId } = await provider.apply(create('web'), noSecrets);
      const m = fake.liveMachines('web-p1')[0]!;
      fake.world.updateMachine(m, { ...m.config, env: { CHANGED: 'by-hand' } }, true);
      await provider.apply(update('web', instanceId!, spec('web', { image: 'registry.example/app:3' }), 'h3'), noSecrets);
      const updates = fake.requests.filter((q) => q.method === 'POST' && q.path === `/v1/apps/web-p1/machines/${instanceId}`);
      assert.deepEqual(updates.map((q) => q.status), [409, 200]);
      assert.equal(fake.liveMachines('web-p1')[0]!.config['image'], 'registry.example/app:3');
    }));

  it('stops and starts the same machine', () =>
    withRig(async ({ provider }) => {
      const { instanceId } = await provider.apply(create('web'), noSecrets);
      await provider.apply({ kind: 'stop', key: 'web', instanceId: instanceId!, reason: 'stopped' }, noSecrets);
      assert.deepEqual((await provider.observe(['web']))[0]?.instances.map((i) => [i.id, i.state]), [[instanceId, 'stopped']]);
      await provider.apply({ kind: 'start', key: 'web', instanceId: instanceId!, reason: 'started' }, noSecrets);
      assert.deepEqual((await provider.observe(['web']))[0]?.instances.map((i) => [i.id, i.state]), [[instanceId, 'running']]);
    }));

  it('destroys everything for a key: machines, then the app', () =>
    withRig(async ({ provider, fake }) => {
      await provider.apply(create('web'), noSecrets);
      await provider.apply(create('web', spec('web'), 1), noSecrets);
      await provider.apply({ kind: 'destroy', key: 'web', reason: 'deleted' }, noSecrets);
      assert.equal(fake.world.apps.has('web-p1'), false);
      assert.deepEqual(await provider.observe(['web']), [{ key: 'web', instances: [] }]);
      await provider.resync(true);
      assert.deepEqual(await provider.observe(), []);
    }));

  it('sees a machine destroyed behind its back after a resync, and recreates it on the next create', () =>
    withRig(async ({ provider, fake }) => {
      const first = await provider.apply(create('web'), noSecrets);
      await provider.observe();
      fake.destroyMachineBehindBack('web-p1', first.instanceId!);
      await provider.resync(true);
      assert.deepEqual((await provider.observe(['web']))[0]?.instances, []);
      const second = await provider.apply(create('web'), noSecrets);
      assert.notEqual(second.instanceId, first.instanceId);
      assert.deepEqual(fake.liveMachines('web-p1').map((m) => m.id), [second.instanceId]);
    }));

  it('reports an orphan carrying our owner label under its key (and ignores other projects and other owners)', () =>
    withRig(async ({ provider, fake }) => {
      await provider.apply(create('web'), noSecrets);
      await provider.observe();
      const meta = { forge_key: 'web', forge_replica: '1', forge_generation: '1', forge_hash: 'h1', forge_project: PROJECT, forge_owner: OWNER };
      const orphan = fake.createOrphan('web-p1', { metadata: meta });
      fake.createOrphan('web-other', { metadata: { ...meta, forge_project: 'someone-else' } });
      fake.createOrphan('web-p1', { metadata: { ...meta, forge_replica: '2', forge_owner: 'cp_ffffffffffffffff' } });
      await provider.resync(true);
      const [observed] = await provider.observe(['web']);
      assert.deepEqual(observed?.instances.map((i) => [i.replica, i.id === orphan.id]), [[0, false], [1, true]]);
      assert.deepEqual((await provider.observe()).map((o) => o.key), ['web']);
      // The reconciler destroys the extra replica by id; it is gone remotely and from observe.
      await provider.apply({ kind: 'destroy', key: 'web', instanceId: orphan.id, reason: 'orphan' }, noSecrets);
      assert.equal(fake.liveMachines('web-p1').some((m) => m.id === orphan.id), false);
      assert.deepEqual((await provider.observe(['web']))[0]?.instances.map((i) => i.replica), [0]);
    }));

  it('is idempotent: a repeated create returns the same machine, also from a provider with an empty cache', () =>
    withRig(async (r) => {
      const a = await r.provider.apply(create('web'), noSecrets);
      const b = await r.provider.apply(create('web'), noSecrets);
      const { createFlyProvider } = await import('../../../providers/fly/provider.ts');
      const restarted = createFlyProvider({ client: r.client, org: r.fake.org, projectId: PROJECT, controlPlaneId: OWNER, waitTimeoutSeconds: 5 });
      const c = await restarted.apply(create('web'), noSecrets);
      assert.equal(b.instanceId, a.instanceId);
      assert.equal(c.instanceId, a.instanceId);
      assert.equal(r.fake.liveMachines('web-p1').length, 1);
      assert.equal(r.fake.world.apps.size, 1);
    }));

  it('keeps secret values out of machine configs: the canary only travels in the secrets call', () =>
    withRig(async ({ provider, fake }) => {
      const canary = 'canary-7f3a9c1e-secret-value';
      const s = spec('web', { secrets: ['API_KEY'] });
      const { instanceId } = await provider.apply(create('web', s), { secrets: { API_KEY: canary } });
      await provider.apply(update('web', instanceId!, { ...s, image: 'registry.example/app:2' }, 'h2'), { secrets: { API_KEY: canary } });
      const carrying = fake.requests.filter((q) => q.body.includes(canary));
      assert.deepEqual([...new Set(carrying.map((q) => `${q.method} ${q.path}`))], ['POST /v1/apps/web-p1/secrets']);
      const machine = fake.liveMachines('web-p1')[0]!;
      assert.equal(JSON.stringify(machine.config).includes(canary), false);
      const app = fake.world.apps.get('web-p1')!;
      assert.equal(app.secrets.get('API_KEY')?.value, canary);
      assert.equal(app.secretsVersion, 2);
    }));

  it('unsets secrets the spec no longer names', () =>
    withRig(async ({ provider, fake }) => {
      const { instanceId } = await provider.apply(create('web'), { secrets: { A: 'one', B: 'two' } });
      await provider.apply(update('web', instanceId!, spec('web'), 'h2'), { secrets: { A: 'one' } });
      assert.deepEqual([...fake.world.apps.get('web-p1')!.secrets.keys()], ['A']);
    }));

  it('refuses a create or an update into another region with E_REGION_IMMUTABLE', () =>
    withRig(async ({ provider, fake }) => {
      const { instanceId } = await provider.apply(create('web'), noSecrets);
      const isRegionError = (err: unknown) => err instanceof ForgeError && err.code === 'E_REGION_IMMUTABLE' && err.terminal;
      await assert.rejects(provider.apply(create('web', spec('web', { region: 'fra' }), 1), noSecrets), isRegionError);
      await assert.rejects(provider.apply(update('web', instanceId!, spec('web', { region: 'fra' }), 'h2'), noSecrets), isRegionError);
      assert.equal(fake.liveMachines('web-p1').length, 1);
    }));

  it('retries an IP allocation that answers without an address', () =>
    withRig(async ({ provider, fake }) => {
      fake.world.blankIpAllocations = 1;
      await provider.apply(create('web'), noSecrets);
      assert.deepEqual(fake.world.apps.get('web-p1')!.ips.map((ip) => ip.type).sort(), ['shared_v4', 'v6']);
    }));

  it('fails loudly instead of deploying an app left without an IPv4', () =>
    withRig(async ({ provider, fake }) => {
      fake.world.blankIpAllocations = 100;
      await assert.rejects(provider.apply(create('web'), noSecrets), (err: unknown) => err instanceof ForgeError && err.code === 'E_PROVIDER' && /no a shared IPv4 and an IPv6/.test(err.message));
      assert.equal(fake.liveMachines('web-p1').length, 0);
    }));

  it('maps machine events, exit codes and OOM kills to provider events', () =>
    withRig(async ({ provider, fake }) => {
      const { instanceId } = await provider.apply(create('web'), noSecrets);
      fake.exitMachine('web-p1', instanceId!, 137, true);
      const events = await provider.events('web');
      assert.deepEqual(
        events.map((e) => [e.source, e.type, e.status, e.exitCode, e.oomKilled]),
        [
          ['user', 'launch', 'created', undefined, undefined],
          ['flyd', 'start', 'started', undefined, undefined],
          ['flyd', 'exit', 'stopped', 137, true],
        ],
      );
    }));

  it('mints a 20-minute deploy token for a source deploy, creating the app shell once', () =>
    withRig(async ({ provider, fake }) => {
      const first = await provider.mintDeployToken('api');
      const again = await provider.mintDeployToken('api');
      assert.equal(first.app, 'api-p1');
      assert.match(first.token, /^FlyV1 /);
      assert.notEqual(again.token, first.token);
      assert.deepEqual(fake.world.apps.get('api-p1')!.deployTokens.map((t) => t.expiry), ['1200s', '1200s']);
      assert.equal(fake.world.apps.size, 1);
    }));

  it('lists the calls one image deploy costs', () =>
    withRig(async ({ provider, fake }) => {
      await provider.apply(create('web'), noSecrets);
      assert.deepEqual(
        fake.requests.map((q) => `${q.method} ${q.path.replace(/machines\/[0-9a-f]+/, 'machines/{id}')}`),
        [
          'POST /v1/apps',
          'POST /v1/apps/web-p1/ip_assignments',
          'POST /v1/apps/web-p1/ip_assignments',
          'POST /v1/apps/web-p1/machines',
          'GET /v1/apps/web-p1/machines/{id}/wait',
        ],
      );
    }));
});
