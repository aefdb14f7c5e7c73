import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { ForgeError } from '../../errors/index.ts';
import type { StatusInput } from '../../store/index.ts';
import { forEachEngine, spec, type TempStore, T0 } from './helpers.ts';

const base: StatusInput = {
  name: 'web',
  phase: 'running',
  observedGeneration: 1,
  conditions: [{ type: 'Ready', status: 'True', reason: 'Healthy', message: 'ok', lastTransitionTime: '2025-01-01T00:00:00.000Z' }],
  url: 'http://web.localhost',
  lastError: null,
  lifecycle: { value: 'running', context: { retries: 0, reason: null } },
};

forEachEngine((engine) => {
  describe('status', () => {
    let t: TempStore;
    beforeEach(() => {
      t = engine.tempStore();
      t.store.services.upsert({ name: 'web', spec: spec('web'), hash: 'h1', source: 'api' });
      t.store.services.upsert({ name: 'api', spec: spec('api'), hash: 'h1', source: 'api' });
    });
    afterEach(() => t.cleanup());

    test('first put writes and reads back exactly', () => {
      assert.equal(t.store.status.put(base), true);
      assert.deepEqual(t.store.status.get('web'), { ...base, updatedAt: new Date(T0).toISOString() });
    });

    test('an identical put writes nothing, even with keys in another order', () => {
      t.store.status.put(base);
      const before = t.writes();
      t.clock.now += 5_000;
      assert.equal(t.store.status.put({ ...base }), false);
      const reordered: StatusInput = {
        lifecycle: { context: { reason: null, retries: 0 }, value: 'running' },
        lastError: null,
        url: base.url,
        conditions: [{ lastTransitionTime: '2025-01-01T00:00:00.000Z', message: 'ok', reason: 'Healthy', status: 'True', type: 'Ready' }],
        observedGeneration: 1,
        phase: 'running',
        name: 'web',
      };
      assert.equal(t.store.status.put(reordered), false);
      assert.equal(t.writes(), before);
      assert.equal(t.store.status.get('web')?.updatedAt, new Date(T0).toISOString());
    });

    const changes: [string, Partial<StatusInput>][] = [
      ['phase', { phase: 'failed' }],
      ['observedGeneration', { observedGeneration: 2 }],
      ['conditions', { conditions: [] }],
      ['url', { url: null }],
      ['lastError', { lastError: { code: 'E_PROVIDER', message: 'fly said no' } }],
      ['lifecycle', { lifecycle: { value: 'failed' } }],
    ];
    for (const [field, patch] of changes) {
      test(`a changed ${field} writes and moves updatedAt`, () => {
        t.store.status.put(base);
        t.clock.now += 1_000;
        assert.equal(t.store.status.put({ ...base, ...patch }), true);
        assert.deepEqual(t.store.status.get('web'), { ...base, ...patch, updatedAt: new Date(T0 + 1_000).toISOString() });
      });
    }

    test('getMany and all read in one query, sorted by name', () => {
      t.store.status.put(base);
      t.store.status.put({ ...base, name: 'api', phase: 'creating' });
      assert.deepEqual(t.store.status.all().map((r) => [r.name, r.phase]), [['api', 'creating'], ['web', 'running']]);
      assert.deepEqual(t.store.status.getMany(['web', 'missing']).map((r) => r.name), ['web']);
      assert.equal(t.store.status.getMany().length, 2);
    });

    test('summaries: phase and observedGeneration of all, refreshed after a write', () => {
      t.store.status.put(base);
      assert.deepEqual(t.store.status.summaries(), [{ name: 'web', phase: 'running', observedGeneration: 1 }]);
      t.store.status.put({ ...base, name: 'api', phase: 'creating', observedGeneration: 0 });
      t.store.status.put({ ...base, observedGeneration: 2 });
      assert.deepEqual(t.store.status.summaries(), [
        { name: 'api', phase: 'creating', observedGeneration: 0 },
        { name: 'web', phase: 'running', observedGeneration: 2 },
      ]);
    });

    test('status of a service that does not exist is refused with E_NOT_FOUND', () => {
      assert.throws(
        () => t.store.status.put({ ...base, name: 'ghost' }),
        (e: unknown) => e instanceof ForgeError && e.code === 'E_NOT_FOUND',
      );
    });
  });
});
