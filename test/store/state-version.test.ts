// The no-op pass's change detector: services.summaries() and status.summaries() are cached until
// a row of their own table changes, on either engine, whoever made the change. Two Store
// instances on one database stand for two replicas (two processes on one PostgreSQL).

import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { openStore, type StatusInput, type Store } from '../../store/index.ts';
import { forEachEngine, spec, type TempStore } from './helpers.ts';

function status(name: string, phase: StatusInput['phase'], observedGeneration = 1): StatusInput {
  return { name, phase, observedGeneration, conditions: [], url: null, lastError: null, lifecycle: null };
}

const names = (store: Store) => store.services.summaries().map((s) => `${s.name}@${s.generation}:${s.state}${s.deleting ? ':deleting' : ''}`);
const phases = (store: Store) => store.status.summaries().map((s) => `${s.name}:${s.phase}@${s.observedGeneration}`);

forEachEngine((engine) => {
  describe('state_version change detector', () => {
    let t: TempStore;
    let other: Store;
    beforeEach(() => {
      t = engine.tempStore();
      other = openStore(t.file);
      t.store.services.upsert({ name: 'a', spec: spec('a'), hash: 'h1', source: 'api' });
      t.store.status.put(status('a', 'running'));
    });
    afterEach(() => {
      other.close();
      t.cleanup();
    });

    test('an unchanged read hands out the cached rows: the same frozen objects, not a new read', () => {
      const services = t.store.services.summaries();
      const statuses = t.store.status.summaries();
      assert.equal(t.store.services.summaries()[0], services[0]);
      assert.equal(t.store.status.summaries()[0], statuses[0]);
      assert.equal(Object.isFrozen(services[0]), true);
    });

    test("another replica's writes are seen on the next read: create, new spec, state, delete, remove; status and its cascade", () => {
      assert.deepEqual(names(t.store), ['a@1:running']);
      assert.deepEqual(phases(t.store), ['a:running@1']);

      other.services.upsert({ name: 'b', spec: spec('b'), hash: 'h1', source: 'api' });
      assert.deepEqual(names(t.store), ['a@1:running', 'b@1:running']);
      other.services.upsert({ name: 'a', spec: spec('a'), hash: 'h2', source: 'api' });
      assert.deepEqual(names(t.store), ['a@2:running', 'b@1:running']);
      other.services.setState('b', 'stopped');
      assert.deepEqual(names(t.store), ['a@2:running', 'b@1:stopped']);

      other.status.put(status('a', 'deploying', 2));
      assert.deepEqual(phases(t.store), ['a:deploying@2']);
      other.status.put(status('b', 'stopped'));
      assert.deepEqual(phases(t.store), ['a:deploying@2', 'b:stopped@1']);

      other.services.markDeleting('b');
      assert.deepEqual(names(t.store), ['a@2:running', 'b@1:stopped:deleting']);
      other.services.remove('b'); // the status row goes with it (ON DELETE CASCADE)
      assert.deepEqual(names(t.store), ['a@2:running']);
      assert.deepEqual(phases(t.store), ['a:deploying@2']);
    });

    test("another replica's transaction is seen once it commits, and a rolled-back one changes nothing", () => {
      const before = t.store.services.summaries();
      other.transaction(() => {
        other.services.upsert({ name: 'c', spec: spec('c'), hash: 'h1', source: 'api' });
        assert.deepEqual(names(t.store), ['a@1:running'], 'not committed yet');
      });
      assert.deepEqual(names(t.store), ['a@1:running', 'c@1:running']);

      const cached = t.store.services.summaries();
      assert.notEqual(cached[0], before[0], 'a change re-reads');
      assert.throws(() =>
        other.transaction(() => {
          other.services.upsert({ name: 'd', spec: spec('d'), hash: 'h1', source: 'api' });
          throw new Error('roll back');
        }),
      );
      assert.deepEqual(names(t.store), ['a@1:running', 'c@1:running']);
      assert.equal(t.store.services.summaries()[0], cached[0], 'a rolled-back write keeps the cache');
    });

    test('a write to another table keeps the cache: events, audit, a status write for the services cache and back', () => {
      const services = t.store.services.summaries();
      const statuses = t.store.status.summaries();
      other.events.append('a', { type: 'Normal', reason: 'Test', message: 'an event' });
      other.audit.append({ actor: 'test', action: 'x', target: 'a', details: null });
      assert.equal(t.store.services.summaries()[0], services[0]);
      assert.equal(t.store.status.summaries()[0], statuses[0]);

      other.status.put(status('a', 'failed'));
      assert.equal(t.store.services.summaries()[0], services[0], 'a status write keeps the services cache');
      assert.deepEqual(phases(t.store), ['a:failed@1']);
      const fresh = t.store.status.summaries();
      other.services.setState('a', 'stopped');
      assert.equal(t.store.status.summaries()[0], fresh[0], 'a services write keeps the status cache');
      assert.deepEqual(names(t.store), ['a@1:stopped']);
    });

    test('a change made outside Forge (plain SQL on another connection) is seen too', () => {
      assert.deepEqual(names(t.store), ['a@1:running']);
      t.sql.exec("UPDATE services SET generation = 9 WHERE name = 'a'");
      assert.deepEqual(names(t.store), ['a@9:running']);
      t.sql.exec("DELETE FROM status WHERE name = 'a'");
      assert.deepEqual(phases(t.store), []);
    });

    test("a transaction that changes many rows moves its table's counter (once per transaction on PostgreSQL)", () => {
      const counter = () => Number((t.sql.prepare<[], { v: number }>('SELECT services AS v FROM state_version WHERE id = 1').get() as { v: number }).v);
      const before = counter();
      other.transaction(() => {
        for (let i = 0; i < 20; i++) other.services.upsert({ name: `bulk-${i}`, spec: spec(`bulk-${i}`), hash: 'h1', source: 'api' });
      });
      assert.equal(counter() - before, engine.name === 'postgres' ? 1 : 20);
      assert.equal(t.store.services.summaries().length, 21);
    });

    test('an identical upsert or status put moves nothing', () => {
      const services = t.store.services.summaries();
      const statuses = t.store.status.summaries();
      other.services.upsert({ name: 'a', spec: spec('a'), hash: 'h1', source: 'api' });
      other.status.put(status('a', 'running'));
      assert.equal(t.store.services.summaries()[0], services[0]);
      assert.equal(t.store.status.summaries()[0], statuses[0]);
    });
  });
});
