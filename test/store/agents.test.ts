import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { ForgeError } from '../../errors/index.ts';
import type { RegisterInput } from '../../store/index.ts';
import { forEachEngine, type TempStore, T0 } from './helpers.ts';

const agent = (over: Partial<RegisterInput> = {}): RegisterInput => ({
  name: 'worker-1',
  tokenHash: 'hash-1',
  addresses: ['10.0.0.5'],
  labels: { zone: 'a' },
  capacity: { cpus: 4, memoryBytes: 8 * 2 ** 30 },
  ...over,
});

forEachEngine((engine) => {
  describe('agents', () => {
    let t: TempStore;
    beforeEach(() => {
      t = engine.tempStore();
    });
    afterEach(() => t.cleanup());

    test('register creates an online agent with an agt_ id', () => {
      const row = t.store.agents.register(agent(), T0);
      assert.match(row.id, /^agt_[0-9a-f]{16}$/);
      assert.deepEqual({ ...row, id: '' }, {
        id: '', name: 'worker-1', tokenHash: 'hash-1', addresses: ['10.0.0.5'], labels: { zone: 'a' },
        capacity: { cpus: 4, memoryBytes: 8 * 2 ** 30 }, usage: null, instances: [], runtimes: [], online: true, lastSeenMs: T0, revokedAt: null,
        createdAt: new Date(T0).toISOString(), updatedAt: new Date(T0).toISOString(),
      });
      assert.deepEqual(t.store.agents.getByTokenHash('hash-1'), row);
      assert.equal(t.store.agents.getByTokenHash('nope'), null);
    });

    test('noteInstance puts a task result\'s instance in the stored list in place of its older report; lastSeen stays', () => {
      const row = t.store.agents.register(agent({ instances: [{ id: 'i1', state: 'starting' }, { id: 'i2', state: 'running' }] }), T0);
      assert.equal(t.store.agents.noteInstance(row.id, { id: 'i1', state: 'running' } as { id: string }, T0 + 9), true);
      assert.equal(t.store.agents.noteInstance(row.id, { id: 'i3', state: 'running' } as { id: string }, T0 + 9), true);
      const after = t.store.agents.get(row.id)!;
      assert.deepEqual(after.instances, [{ id: 'i2', state: 'running' }, { id: 'i1', state: 'running' }, { id: 'i3', state: 'running' }]);
      assert.equal(after.lastSeenMs, T0);
      assert.equal(t.store.agents.noteInstance('agt_nope', { id: 'i1' }, T0), false);
    });

    test('re-registering the same id updates it in place', () => {
      const first = t.store.agents.register(agent(), T0);
      const again = t.store.agents.register(agent({ id: first.id, capacity: { cpus: 8, memoryBytes: 1 } }), T0 + 5);
      assert.deepEqual([again.id, again.capacity.cpus, again.createdAt, again.lastSeenMs], [first.id, 8, first.createdAt, T0 + 5]);
      assert.equal(t.store.agents.list().length, 1);
    });

    test('runtimes are kept as registered and replaced by the next registration', () => {
      const node = { name: 'node', version: '20.11.1', path: '/usr/bin/node' };
      const first = t.store.agents.register(agent({ runtimes: [node] }), T0);
      assert.deepEqual(t.store.agents.get(first.id)?.runtimes, [node]);
      t.store.agents.register(agent({ id: first.id, runtimes: [] }), T0 + 5);
      assert.deepEqual(t.store.agents.get(first.id)?.runtimes, []);
    });

    test('a token hash belongs to one agent', () => {
      t.store.agents.register(agent(), T0);
      assert.throws(
        () => t.store.agents.register(agent({ name: 'worker-2' }), T0),
        (e: unknown) => e instanceof ForgeError && e.code === 'E_CONFLICT',
      );
    });

    test('heartbeat stores the report; unknown agents are refused', () => {
      const row = t.store.agents.register(agent(), T0);
      const usage = { cpus: 1.5, memoryBytes: 1024, processes: 3 };
      const instances = [{ service: 'web', replica: 0, state: 'running' }];
      assert.equal(t.store.agents.heartbeat(row.id, { usage, instances }, T0 + 3_000), true);
      const got = t.store.agents.get(row.id);
      assert.deepEqual([got?.usage, got?.instances, got?.lastSeenMs], [usage, instances, T0 + 3_000]);
      assert.equal(t.store.agents.heartbeat('agt_unknown', { usage, instances }, T0), false);
    });

    test('markOffline marks only agents silent for longer than the cutoff, once', () => {
      const a = t.store.agents.register(agent({ name: 'a', tokenHash: 'ha' }), T0);
      const b = t.store.agents.register(agent({ name: 'b', tokenHash: 'hb' }), T0);
      t.store.agents.heartbeat(b.id, { usage: null, instances: [] }, T0 + 20_000);
      assert.deepEqual(t.store.agents.markOffline(15_000, T0 + 15_000), [], 'exactly at the cutoff is still online');
      assert.deepEqual(t.store.agents.markOffline(15_000, T0 + 15_001), [a.id]);
      assert.deepEqual(t.store.agents.markOffline(15_000, T0 + 15_001), []);
      assert.deepEqual(t.store.agents.list().map((r) => [r.name, r.online]), [['a', false], ['b', true]]);
      t.store.agents.heartbeat(a.id, { usage: null, instances: [] }, T0 + 30_000);
      assert.equal(t.store.agents.get(a.id)?.online, true, 'a heartbeat brings it back');
    });

    test('remove forgets an agent', () => {
      const a = t.store.agents.register(agent(), T0);
      assert.equal(t.store.agents.remove(a.id), true);
      assert.equal(t.store.agents.get(a.id), null);
    });
  });

  test('revoke marks an agent revoked and offline once; a heartbeat does not bring it back', () => {
    const t = engine.tempStore();
    try {
      const row = t.store.agents.register({ name: 'w', tokenHash: 'h', addresses: [], labels: {}, capacity: { cpus: 1, memoryBytes: 1 } }, T0);
      assert.equal(t.store.agents.revoke(row.id, T0 + 1), true);
      assert.equal(t.store.agents.revoke(row.id, T0 + 2), false);
      assert.equal(t.store.agents.heartbeat(row.id, { usage: null, instances: [] }, T0 + 3), false);
      const after = t.store.agents.get(row.id)!;
      assert.deepEqual([after.online, after.revokedAt], [false, new Date(T0 + 1).toISOString()]);
    } finally {
      t.cleanup();
    }
  });
});
