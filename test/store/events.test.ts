import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { forEachEngine, scalar, type TempStore, T0 } from './helpers.ts';

forEachEngine((engine) => {
  describe('events', () => {
    let t: TempStore | undefined;
    afterEach(() => t?.cleanup());

    test('append returns the row; list is oldest first', () => {
      t = engine.tempStore();
      const e = t.store.events.append('web', { type: 'Warning', reason: 'BackOff', message: 'restarting' });
      assert.deepEqual(e, { id: e.id, name: 'web', time: new Date(T0).toISOString(), type: 'Warning', reason: 'BackOff', message: 'restarting' });
      t.store.events.append('web', { type: 'Normal', reason: 'Started', message: 'up' });
      assert.deepEqual(t.store.events.list('web').map((r) => r.reason), ['BackOff', 'Started']);
    });

    test('appendCounted: a repeated warning is one event with a count and the time it was last seen', () => {
      t = engine.tempStore();
      const warning = { type: 'Warning' as const, reason: 'ActionFailed', message: 'E_UNSCHEDULABLE: cannot place web replica 0' };
      const first = t.store.events.appendCounted('web', warning);
      t.store.events.append('web', { type: 'Normal', reason: 'Stop', message: 'stopping' });
      t.clock.now = T0 + 5_000;
      t.store.events.appendCounted('web', warning);
      const third = t.store.events.appendCounted('web', warning);
      t.store.events.appendCounted('web', { ...warning, message: 'E_UNSCHEDULABLE: cannot place web replica 1' });
      t.store.events.appendCounted('api', warning);
      assert.deepEqual(third, { ...first, message: `${warning.message} (seen 3 times)`, time: new Date(T0 + 5_000).toISOString() });
      assert.deepEqual(t.store.events.list('web').map((e) => [e.reason, e.message]), [
        ['ActionFailed', 'E_UNSCHEDULABLE: cannot place web replica 0 (seen 3 times)'],
        ['Stop', 'stopping'],
        ['ActionFailed', 'E_UNSCHEDULABLE: cannot place web replica 1'],
      ]);
      assert.deepEqual(t.store.events.list('api').map((e) => e.message), [warning.message]);
    });

    test('keeps the newest N per service and leaves other services alone', () => {
      t = engine.tempStore({ eventRetention: 5 });
      for (let i = 0; i < 12; i++) t.store.events.append('web', { type: 'Normal', reason: 'R', message: `m${i}` });
      for (let i = 0; i < 3; i++) t.store.events.append('api', { type: 'Normal', reason: 'R', message: `a${i}` });
      assert.deepEqual(t.store.events.list('web', { limit: 100 }).map((r) => r.message), ['m7', 'm8', 'm9', 'm10', 'm11']);
      assert.deepEqual(t.store.events.list('api').map((r) => r.message), ['a0', 'a1', 'a2']);
      assert.equal(scalar(t.sql, `SELECT count(*) FROM events WHERE name = 'web'`), 5);
    });

    test('default retention is 200', () => {
      t = engine.tempStore();
      for (let i = 0; i < 230; i++) t.store.events.append('web', { type: 'Normal', reason: 'R', message: `m${i}` });
      const all = t.store.events.list('web', { limit: 1000 });
      assert.equal(all.length, 200);
      assert.equal(all[0]?.message, 'm30');
    });

    test('limit returns the newest; afterId follows from a point', () => {
      t = engine.tempStore();
      const ids = Array.from({ length: 6 }, (_, i) => t!.store.events.append('web', { type: 'Normal', reason: 'R', message: `m${i}` }).id);
      assert.deepEqual(t.store.events.list('web', { limit: 2 }).map((r) => r.message), ['m4', 'm5']);
      assert.deepEqual(t.store.events.list('web', { afterId: ids[2]!, limit: 2 }).map((r) => r.message), ['m3', 'm4']);
      assert.deepEqual(t.store.events.list('web', { afterId: ids[5]! }), []);
    });

    test('long messages are capped', () => {
      t = engine.tempStore();
      const e = t.store.events.append('web', { type: 'Normal', reason: 'R', message: 'x'.repeat(10_000) });
      assert.equal(e.message.length, 4_096);
    });
  });

  describe('events and incarnations (issue 13.21)', () => {
    let t: TempStore | undefined;
    afterEach(() => t?.cleanup());
    const spec = { name: 'web' } as unknown as Parameters<TempStore['store']['services']['upsert']>[0]['spec'];

    test('a service created again under a deleted one\'s name starts with no events; the old ones stay as history', () => {
      t = engine.tempStore();
      const first = t.store.services.upsert({ name: 'web', spec, hash: 'h1', source: 'api' }).row;
      t.store.events.append('web', { type: 'Warning', reason: 'Old', message: 'first incarnation' });
      t.store.services.markDeleting('web');
      assert.equal(t.store.services.remove('web'), true);
      t.store.events.append('web', { type: 'Normal', reason: 'Deleted', message: 'gone' }, first.id);
      // No live row: the last incarnation's events, so a follower sees the deletion end.
      assert.deepEqual(t.store.events.list('web').map((e) => e.reason), ['Old', 'Deleted']);

      t.store.services.upsert({ name: 'web', spec, hash: 'h2', source: 'api' });
      assert.deepEqual(t.store.events.list('web'), []);
      t.store.events.append('web', { type: 'Normal', reason: 'New', message: 'second incarnation' });
      assert.deepEqual(t.store.events.list('web').map((e) => e.reason), ['New']);
      assert.deepEqual(t.store.events.list('web', { afterId: 0 }).map((e) => e.reason), ['New']);
      assert.equal(scalar(t.sql, `SELECT count(*) FROM events WHERE name = 'web'`), 3);
    });
  });
});
