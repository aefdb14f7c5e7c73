import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { forEachEngine, spec, type TempStore, T0 } from './helpers.ts';

forEachEngine((engine) => {
  describe('releases', () => {
    let t: TempStore;
    beforeEach(() => {
      t = engine.tempStore();
    });
    afterEach(() => t.cleanup());

    const rec = (generation: number, hash: string, outcome?: 'succeeded' | 'failed') => {
      t.store.releases.record({ name: 'web', generation, hash, spec: spec('web'), revision: `rev${generation}` });
      if (outcome) t.store.releases.setOutcome('web', generation, outcome, outcome === 'failed' ? 'health failed' : null);
    };

    test('record is idempotent per (name, generation) and keeps the outcome', () => {
      rec(1, 'h1', 'succeeded');
      t.clock.now += 1_000;
      const again = t.store.releases.record({ name: 'web', generation: 1, hash: 'h1', spec: spec('web'), revision: 'other' });
      assert.deepEqual(again, {
        name: 'web', generation: 1, hash: 'h1', spec: spec('web'), revision: 'rev1',
        createdAt: new Date(T0).toISOString(), outcome: 'succeeded', reason: null,
      });
      assert.equal(t.store.releases.list('web').length, 1);
    });

    test('a recreated service (generation restarts) replaces the old release of that generation', () => {
      rec(1, 'h1', 'failed');
      const fresh = t.store.releases.record({ name: 'web', generation: 1, hash: 'h9', spec: spec('web'), revision: null });
      assert.deepEqual([fresh.hash, fresh.outcome, fresh.reason], ['h9', 'pending', null]);
    });

    test('list newest first, get, latestSucceeded', () => {
      rec(1, 'h1', 'succeeded');
      rec(2, 'h2', 'succeeded');
      rec(3, 'h3', 'failed');
      rec(4, 'h4');
      assert.deepEqual(t.store.releases.list('web').map((r) => [r.generation, r.outcome]), [
        [4, 'pending'], [3, 'failed'], [2, 'succeeded'], [1, 'succeeded'],
      ]);
      assert.equal(t.store.releases.get('web', 3)?.reason, 'health failed');
      assert.equal(t.store.releases.get('web', 9), null);
      assert.equal(t.store.releases.latestSucceeded('web')?.generation, 2);
      assert.equal(t.store.releases.latestSucceeded('nope'), null);
      assert.equal(t.store.releases.setOutcome('web', 9, 'failed'), false);
    });

    const badCases: [string, [number, string, 'succeeded' | 'failed' | undefined][], string, boolean][] = [
      ['never released', [], 'h1', false],
      ['only pending', [[1, 'h1', undefined]], 'h1', false],
      ['succeeded', [[1, 'h1', 'succeeded']], 'h1', false],
      ['failed', [[1, 'h1', 'failed']], 'h1', true],
      ['failed, another hash succeeded later', [[1, 'h1', 'failed'], [2, 'h2', 'succeeded']], 'h1', true],
      ['failed, same hash succeeded later', [[1, 'h1', 'failed'], [2, 'h1', 'succeeded']], 'h1', false],
      ['succeeded, then same hash failed', [[1, 'h1', 'succeeded'], [2, 'h1', 'failed']], 'h1', true],
      ['another hash failed', [[1, 'h2', 'failed']], 'h1', false],
    ];
    for (const [label, history, hash, want] of badCases) {
      test(`isBad: ${label} → ${want}`, () => {
        for (const [g, h, o] of history) rec(g, h, o);
        assert.equal(t.store.releases.isBad('web', hash), want);
      });
    }
  });
});
