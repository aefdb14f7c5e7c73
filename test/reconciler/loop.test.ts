import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeSpec } from '../helpers/spec.ts';
import { startHarness, type Harness } from '../helpers/reconciler.ts';

function instancesOf(h: Harness, key: string) {
  return h.provider.world.all().filter((i) => i.key === key);
}

async function withHarness(fn: (h: Harness) => Promise<void>, options?: Parameters<typeof startHarness>[0]) {
  const h = startHarness(options);
  try { await fn(h); } finally { await h.close(); }
}

test('a new service is created and reaches running with observedGeneration = generation', () => withHarness(async (h) => {
  h.apply('file:test', [makeSpec({ name: 'web' }), makeSpec({ name: 'api', replicas: 2 })]);
  await h.converge();
  assert.equal(instancesOf(h, 'web').length, 1);
  assert.deepEqual(instancesOf(h, 'api').map((i) => i.replica), [0, 1]);
  for (const name of ['web', 'api']) {
    const status = h.store.status.get(name)!;
    assert.equal(status.phase, 'running');
    assert.equal(status.observedGeneration, 1);
    assert.equal(status.conditions.find((c) => c.type === 'Ready')?.status, 'True');
  }
  assert.deepEqual(h.store.events.list('web').map((e) => e.reason), ['PhaseCreating', 'Create', 'PhaseRunning']);
  assert.equal(h.store.releases.get('web', 1)?.outcome, 'succeeded');
}));

test('scale 1 → 3 → 1 keeps replica 0 and removes the highest slots', () => withHarness(async (h) => {
  h.apply('file:test', [makeSpec({ name: 'web' })]);
  await h.converge();
  const first = instancesOf(h, 'web')[0]!.id;
  h.apply('file:test', [makeSpec({ name: 'web', replicas: 3 })]);
  await h.converge();
  assert.deepEqual(instancesOf(h, 'web').map((i) => i.replica), [0, 1, 2]);
  h.apply('file:test', [makeSpec({ name: 'web', replicas: 1 })]);
  await h.converge();
  assert.deepEqual(instancesOf(h, 'web').map((i) => i.id), [first]);
  assert.equal(h.store.status.get('web')!.observedGeneration, 3);
}));

test('an image change updates in place, keeping the instance id', () => withHarness(async (h) => {
  h.apply('file:test', [makeSpec({ name: 'web', image: 'web:1' })]);
  await h.converge();
  const before = instancesOf(h, 'web')[0]!;
  h.apply('file:test', [makeSpec({ name: 'web', image: 'web:2' })]);
  await h.converge();
  const after = instancesOf(h, 'web')[0]!;
  assert.equal(after.id, before.id);
  assert.equal(after.spec?.image, 'web:2');
  assert.equal(h.store.status.get('web')!.phase, 'running');
  assert.equal(h.store.status.get('web')!.observedGeneration, 2);
}));

test('stop keeps the row and instance; start brings it back', () => withHarness(async (h) => {
  h.apply('file:test', [makeSpec({ name: 'web' })]);
  await h.converge();
  h.store.services.setState('web', 'stopped');
  h.loop.nudge('web');
  await h.converge();
  assert.equal(instancesOf(h, 'web')[0]!.state, 'stopped');
  assert.equal(h.store.status.get('web')!.phase, 'stopped');
  h.store.services.setState('web', 'running');
  h.loop.nudge('web');
  await h.converge();
  assert.equal(instancesOf(h, 'web')[0]!.state, 'running');
  assert.equal(h.store.status.get('web')!.phase, 'running');
}));

test('delete is two-phase: the row goes only after the provider has nothing left', () => withHarness(async (h) => {
  h.apply('file:test', [makeSpec({ name: 'web', replicas: 2 })]);
  await h.converge();
  h.apply('file:test', [], { prune: true });
  assert.equal(h.store.services.get('web')?.deleting, true);
  await h.converge();
  assert.equal(h.store.services.get('web'), null);
  assert.equal(h.store.status.get('web'), null);
  assert.deepEqual(instancesOf(h, 'web'), []);
}));

test('an orphan labelled as Forge\'s with no desired row is destroyed', () => withHarness(async (h) => {
  h.provider.world.insert({ id: 'inst_orphan', key: 'ghost', replica: 0, hash: 'x', generation: 1, spec: makeSpec({ name: 'ghost' }), region: 'iad', state: 'running', health: 'healthy' });
  await h.provider.resync!();
  await h.converge();
  assert.deepEqual(instancesOf(h, 'ghost'), []);
}));

test('drift: an instance removed or changed behind Forge\'s back is restored on the next pass', () => withHarness(async (h) => {
  h.apply('file:test', [makeSpec({ name: 'web', replicas: 2 })]);
  await h.converge();
  const [zero, one] = instancesOf(h, 'web');
  h.provider.world.remove(zero!.id);
  h.provider.world.setHash(one!.id, 'tampered');
  h.provider.world.setState(one!.id, 'stopped');
  await h.converge();
  const after = instancesOf(h, 'web');
  assert.deepEqual(after.map((i) => i.replica), [0, 1]);
  assert.ok(after.every((i) => i.state === 'running' && i.hash === h.store.services.get('web')!.hash));
}));

test('a region change is refused: failed status with E_REGION_IMMUTABLE, old instance untouched', () => withHarness(async (h) => {
  h.apply('file:test', [makeSpec({ name: 'web', region: 'iad' })]);
  await h.converge();
  const before = instancesOf(h, 'web');
  h.apply('file:test', [makeSpec({ name: 'web', region: 'ams' })]);
  await h.converge();
  const status = h.store.status.get('web')!;
  assert.equal(status.phase, 'failed');
  assert.equal(status.lastError?.code, 'E_REGION_IMMUTABLE');
  assert.deepEqual(instancesOf(h, 'web'), before);
  const report = await h.loop.resync();
  assert.equal(report.queued, 0, 'a terminal refusal is not retried by the resync pass');
}));

test('a service whose provider is not configured fails with E_COMPUTE_NOT_CONFIGURED', () => withHarness(async (h) => {
  h.apply('file:test', [makeSpec({ name: 'web', provider: 'fly' })]);
  await h.converge();
  const status = h.store.status.get('web')!;
  assert.equal(status.phase, 'failed');
  assert.equal(status.lastError?.code, 'E_COMPUTE_NOT_CONFIGURED');
}));

test('a flaky provider converges through retries with no duplicate instances', () => withHarness(async (h) => {
  const specs = Array.from({ length: 10 }, (_, i) => makeSpec({ name: `svc-${i}`, replicas: 2 }));
  h.apply('file:test', specs);
  await h.converge(200);
  const all = h.provider.world.all();
  assert.equal(all.length, 20);
  const slots = new Set(all.map((i) => `${i.key}/${i.replica}`));
  assert.equal(slots.size, 20);
  const errors = (await h.metrics.registry.getSingleMetric('forge_reconcile_total')!.get()).values
    .find((v) => v.labels.result === 'error')?.value ?? 0;
  assert.ok(errors > 0, 'the injected faults were seen');
}, { failRate: 0.3, random: seeded(7) }));

test('metrics carry every label from the start', () => withHarness(async (h) => {
  const text = await h.metrics.registry.metrics();
  for (const line of ['forge_reconcile_total{result="error"} 0', 'forge_releases_total{status="failed"} 0', 'forge_releases_total{status="succeeded"} 0', 'forge_queue_depth 0']) {
    assert.ok(text.includes(line), line);
  }
}));

function seeded(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state / 2147483648;
  };
}

test('routes: ready instances are routed, and an instance leaves the route before it is destroyed', async () => {
  const log: string[] = [];
  const table = new Map<string, string[]>();
  const routes = {
    async set(name: string, route: { domains: string[]; upstreams: string[] }) {
      if (table.get(name)?.join() === route.upstreams.join()) return;
      table.set(name, route.upstreams);
      log.push(`route ${name} -> ${route.upstreams.join(' ') || '(none)'}`);
    },
    async remove(name: string) { table.delete(name); log.push(`route ${name} removed`); },
    url: (name: string) => `http://${name}.localhost`,
  };
  const h = startHarness({ routes, afterRemoteWrite: (a) => log.push(`${a.kind} ${a.key}${'replica' in a ? `/${a.replica}` : ''}`) });
  try {
    h.apply('file:test', [makeSpec({ name: 'web', replicas: 2 })]);
    await h.converge();
    assert.equal(h.store.status.get('web')!.url, 'http://web.localhost');
    h.apply('file:test', [makeSpec({ name: 'web', replicas: 1 })]);
    await h.converge();
    h.apply('file:test', [], { prune: true });
    await h.converge();
    assert.deepEqual(log, [
      'create web/0', 'create web/1',
      'route web -> 127.0.0.1:20000 127.0.0.1:20001',
      'route web -> 127.0.0.1:20000', 'destroy web',
      'update web/0',
      'route web -> (none)', 'destroy web',
      'route web removed',
    ]);
  } finally {
    await h.close();
  }
});
