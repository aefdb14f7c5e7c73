import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ForgeError } from '../../../errors/index.ts';
import type { ServiceSpec } from '../../../specs/types.ts';
import type { Action } from '../../../providers/types.ts';
import { createCloudClient } from '../../../providers/cloud/client.ts';
import { createCloudProvider, type CloudProvider } from '../../../providers/cloud/provider.ts';
import { remoteInstanceState, toObserved, upsertBody, type RemoteService } from '../../../providers/cloud/remote.ts';
import { startCloudFake, type CloudFake } from '../../fakes/cloud.ts';

function spec(name: string, overrides: Partial<ServiceSpec> = {}): ServiceSpec {
  return {
    name, provider: 'cloud', image: 'registry.example/app:1', port: 8080,
    resources: { memoryMb: 512, cpus: 2, cpuKind: 'shared' }, region: 'iad', env: { MODE: 'prod' }, secrets: ['DB_PASSWORD'],
    replicas: 1, domains: [], autoStop: false,
    health: { type: 'http', path: '/health', intervalMs: 10_000, timeoutMs: 3_000, retries: 3 },
    ...overrides,
  };
}
const create = (s: ServiceSpec, hash: string, generation = 1): Action => ({ kind: 'create', key: s.name, replica: 0, spec: s, hash, generation, reason: 'new' });
const secrets = { secrets: { DB_PASSWORD: 'hunter2-very-secret' } };

interface CloudRig {
  fake: CloudFake;
  provider: CloudProvider;
}

async function withCloud(fn: (r: CloudRig) => Promise<void>, o: { apiKey?: string; settleMs?: number } = {}): Promise<void> {
  const fake = await startCloudFake({ settleMs: o.settleMs ?? 0 });
  const client = createCloudClient({ host: fake.url, projectId: fake.projectId, apiKey: o.apiKey ?? fake.apiKey, backoffBaseMs: 1, backoffMaxMs: 2 });
  const provider = createCloudProvider({ client, controlPlaneId: CONTROL_PLANE_ID, resyncIntervalMs: 60_000 });
  try {
    await fn({ fake, provider });
  } finally {
    await provider.close?.();
    await fake.close();
  }
}

const CONTROL_PLANE_ID = 'cp_00000000000000c1';
const OWNER = `forge:${CONTROL_PLANE_ID}`;

const calls = (fake: CloudFake) => fake.requests.map((q) => `${q.method} ${q.path.replace(/services\/[0-9a-f]+/, 'services/{id}')}`);

describe('cloud provider mapping (pure)', () => {
  it('builds the upsert body with the cpu tier, and secrets merged into envVars', () => {
    assert.deepEqual(upsertBody(spec('web'), { DB_PASSWORD: 'x' }, OWNER), {
      name: 'web', image: 'registry.example/app:1', port: 8080, cpu: 'shared-2x', memory: 512, region: 'iad', replicas: 1,
      envVars: { MODE: 'prod', DB_PASSWORD: 'x' }, source: OWNER,
    });
    assert.equal(upsertBody(spec('web'), {}, OWNER, 'fly').provider, 'fly', 'a configured remote provider is passed through');
  });

  it('maps remote states, treating unknown words as still starting', () => {
    const table: [string | undefined, string][] = [
      ['running', 'running'], ['started', 'running'], ['creating', 'creating'], ['deploying', 'starting'],
      ['stopped', 'stopped'], ['stopping', 'stopping'], ['failed', 'failed'], ['weird', 'starting'], [undefined, 'starting'],
    ];
    for (const [input, want] of table) assert.equal(remoteInstanceState(input), want, String(input));
  });

  it('labels instances with our hash only while the remote is on the generation we wrote; placeholders stand in for missing replicas', () => {
    const remote: RemoteService = {
      id: 'r1', name: 'web', status: 'deploying', url: 'https://web.example', region: 'iad', replicas: 2, generation: 3,
      instances: [{ id: 'b', state: 'running', health: 'healthy', region: 'iad' }],
    };
    const s = spec('web');
    const ours = toObserved(remote, { hash: 'h1', generation: 7, spec: s, remoteGeneration: 3 });
    assert.deepEqual(ours, {
      key: 'web', url: 'https://web.example',
      instances: [
        { id: 'b', key: 'web', replica: 0, hash: 'h1', generation: 7, spec: s, region: 'iad', state: 'running', health: 'healthy' },
        { id: 'r1#1', key: 'web', replica: 1, hash: 'h1', generation: 7, spec: s, region: 'iad', state: 'starting', health: 'unknown' },
      ],
    });
    const theirs = toObserved(remote, { hash: 'h1', generation: 7, spec: s, remoteGeneration: 2 });
    assert.deepEqual(theirs.instances.map((i) => [i.hash, i.generation, i.spec]), [['remote:3', 0, undefined], ['remote:3', 0, undefined]]);
  });
});

describe('cloud provider against the fake remote', () => {
  it('creates by upsert and observes the remote service as running under our hash', () =>
    withCloud(async ({ fake, provider }) => {
      const s = spec('web');
      const res = await provider.apply(create(s, 'h1'), secrets);
      assert.equal(res.url, `https://web.${fake.projectId}.example.app`);
      assert.deepEqual(JSON.parse(fake.requests.at(-1)!.body), upsertBody(s, secrets.secrets, OWNER));
      const [observed] = await provider.observe(['web']);
      assert.deepEqual(observed?.instances.map((i) => [i.replica, i.hash, i.generation, i.state, i.health]), [[0, 'h1', 1, 'running', 'healthy']]);
      assert.equal(fake.services.get('web')!.envVars['DB_PASSWORD'], 'hunter2-very-secret');
    }));

  it('lists once per resync: many observes, one GET; a forced resync lists again', () =>
    withCloud(async ({ fake, provider }) => {
      await provider.apply(create(spec('a'), 'h1'), secrets);
      for (let i = 0; i < 10; i++) await provider.observe();
      assert.deepEqual(calls(fake), ['POST /api/compute/services', 'GET /api/compute/services']);
      await provider.resync(true);
      assert.equal(calls(fake).filter((c) => c.startsWith('GET')).length, 2);
    }));

  it('one upsert for a release whatever the replica count; a changed spec upserts again and bumps the remote generation', () =>
    withCloud(async ({ fake, provider }) => {
      const s = spec('web', { replicas: 2 });
      await provider.apply(create(s, 'h1'), secrets);
      await provider.apply({ ...create(s, 'h1'), replica: 1 } as Action, secrets);
      assert.equal(calls(fake).filter((c) => c === 'POST /api/compute/services').length, 1);
      const s2 = spec('web', { replicas: 2, image: 'registry.example/app:2' });
      const [inst] = (await provider.observe(['web']))[0]!.instances;
      await provider.apply({ kind: 'update', key: 'web', instanceId: inst!.id, replica: 0, spec: s2, hash: 'h2', generation: 2, changed: ['image'], reason: 'x' }, secrets);
      assert.equal(fake.services.get('web')!.generation, 2);
      assert.equal(fake.services.get('web')!.image, 'registry.example/app:2');
      const [observed] = await provider.observe(['web']);
      assert.deepEqual(observed?.instances.map((i) => [i.replica, i.hash, i.generation]), [[0, 'h2', 2], [1, 'h2', 2]]);
    }));

  it('a change made on the remote shows as a foreign release (no spec), so diff upserts again', () =>
    withCloud(async ({ fake, provider }) => {
      await provider.apply(create(spec('web'), 'h1'), secrets);
      const s = fake.services.get('web')!;
      fake.services.set('web', { ...s, image: 'by-hand:1', generation: s.generation + 1, digest: 'changed' });
      // A listing that starts in the same millisecond as our write does not override it.
      await new Promise((r) => setTimeout(r, 3));
      await provider.resync(true);
      const [observed] = await provider.observe(['web']);
      assert.deepEqual(observed?.instances.map((i) => [i.hash, i.spec]), [['remote:2', undefined]]);
    }));

  it('stops and starts the service, and deletes it (a missing service is already deleted)', () =>
    withCloud(async ({ fake, provider }) => {
      await provider.apply(create(spec('web'), 'h1'), secrets);
      const [inst] = (await provider.observe(['web']))[0]!.instances;
      await provider.apply({ kind: 'stop', key: 'web', instanceId: inst!.id, reason: 'stop' }, secrets);
      assert.deepEqual((await provider.observe(['web']))[0]?.instances.map((i) => [i.state, i.hash]), [['stopped', 'h1']]);
      await provider.apply({ kind: 'start', key: 'web', instanceId: inst!.id, reason: 'start' }, secrets);
      assert.deepEqual((await provider.observe(['web']))[0]?.instances.map((i) => i.state), ['running']);
      // One instance of a remote-managed service is the remote's business: no call.
      const before = fake.requests.length;
      await provider.apply({ kind: 'destroy', key: 'web', instanceId: inst!.id, reason: 'scale down' }, secrets);
      assert.equal(fake.requests.length, before);
      fake.services.clear();
      await provider.apply({ kind: 'destroy', key: 'web', reason: 'delete' }, secrets);
      assert.deepEqual(await provider.observe(['web']), [{ key: 'web', instances: [] }]);
      assert.deepEqual(calls(fake).slice(-1), ['DELETE /api/compute/services/{id}']);
    }));

  it('retries 429 and 5xx, then succeeds', () =>
    withCloud(async ({ fake, provider }) => {
      fake.failNext(429, 503);
      await provider.apply(create(spec('web'), 'h1'), secrets);
      assert.deepEqual(fake.requests.map((q) => q.status), [429, 503, 201]);
    }));

  it('a refused key is a terminal E_UNAUTHORIZED that never carries secret values', () =>
    withCloud(
      async ({ provider }) => {
        await assert.rejects(provider.apply(create(spec('web'), 'h1'), secrets), (e: unknown) => {
          assert.ok(e instanceof ForgeError);
          assert.equal(e.code, 'E_UNAUTHORIZED');
          assert.equal(e.terminal, true);
          assert.equal(JSON.stringify({ m: e.message, d: e.details }).includes('hunter2'), false);
          return true;
        });
      },
      { apiKey: 'ik_wrong' },
    ));

  it('passes the remote spec verdicts through with their code', () =>
    withCloud(async ({ provider }) => {
      await assert.rejects(provider.apply(create(spec('Bad_Name'), 'h1'), secrets), (e: unknown) => e instanceof ForgeError && e.code === 'E_SPEC_INVALID');
    }));
});
