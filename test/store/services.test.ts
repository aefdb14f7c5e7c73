import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import fc from 'fast-check';
import { openStore } from '../../store/index.ts';
import { planUpsert, type UpsertPlan } from '../../store/services.ts';
import { forEachEngine, spec, type TempStore, T0 } from './helpers.ts';

describe('planUpsert', () => {
  const row = { hash: 'h1', source: 'api', state: 'running' as const, deleting: false };
  const cases: [string, Parameters<typeof planUpsert>[0], Parameters<typeof planUpsert>[1], UpsertPlan['kind']][] = [
    ['no row', undefined, { hash: 'h1', source: 'api' }, 'insert'],
    ['same everything', row, { hash: 'h1', source: 'api' }, 'none'],
    ['same, state repeated', row, { hash: 'h1', source: 'api', state: 'running' }, 'none'],
    ['new hash', row, { hash: 'h2', source: 'api' }, 'bump'],
    ['new hash and source', row, { hash: 'h2', source: 'file:a' }, 'bump'],
    ['same hash, new source', row, { hash: 'h1', source: 'file:a' }, 'touch'],
    ['same hash, stop asked', row, { hash: 'h1', source: 'api', state: 'stopped' }, 'touch'],
    ['deleting, same hash', { ...row, deleting: true }, { hash: 'h1', source: 'api' }, 'revive'],
    ['deleting, new hash', { ...row, deleting: true }, { hash: 'h2', source: 'api' }, 'revive'],
  ];
  for (const [label, existing, input, want] of cases) {
    test(label, () => assert.equal(planUpsert(existing, input).kind, want));
  }
});

forEachEngine((engine) => {
  describe('services', () => {
    let t: TempStore;
    beforeEach(() => {
      t = engine.tempStore();
    });
    afterEach(() => t.cleanup());

    test('a new row starts at generation 1, running, with a random svc_ id', () => {
      const result = t.store.services.upsert({ name: 'web', spec: spec('web'), hash: 'h1', source: 'api' });
      assert.equal(result.created, true);
      assert.equal(result.changed, true);
      assert.match(result.row.id, /^svc_[0-9a-f]{16}$/);
      assert.deepEqual({ ...result.row, id: '' }, {
        id: '',
        name: 'web',
        spec: spec('web'),
        hash: 'h1',
        generation: 1,
        source: 'api',
        state: 'running',
        deleting: false,
        createdAt: new Date(T0).toISOString(),
        updatedAt: new Date(T0).toISOString(),
      });
      assert.deepEqual(t.store.services.getById(result.row.id), result.row);
    });

    test('same hash writes nothing: changed=false, no row changes, updatedAt kept', () => {
      t.store.services.upsert({ name: 'web', spec: spec('web'), hash: 'h1', source: 'api' });
      const before = t.writes();
      t.clock.now += 60_000;
      const again = t.store.services.upsert({ name: 'web', spec: spec('web'), hash: 'h1', source: 'api' });
      assert.equal(t.writes(), before);
      assert.equal(again.changed, false);
      assert.equal(again.created, false);
      assert.equal(again.row.generation, 1);
      assert.equal(again.row.updatedAt, new Date(T0).toISOString());
    });

    test('a new hash bumps the generation by exactly one and stores the new spec', () => {
      t.store.services.upsert({ name: 'web', spec: spec('web'), hash: 'h1', source: 'api' });
      t.clock.now += 1_000;
      const next = t.store.services.upsert({ name: 'web', spec: spec('web', { port: 9000 }), hash: 'h2', source: 'api' });
      assert.equal(next.changed, true);
      assert.equal(next.row.generation, 2);
      assert.equal(next.row.spec.port, 9000);
      assert.equal(next.row.updatedAt, new Date(T0 + 1_000).toISOString());
      assert.equal(next.row.createdAt, new Date(T0).toISOString());
      assert.equal(t.store.services.upsert({ name: 'web', spec: spec('web'), hash: 'h3', source: 'api' }).row.generation, 3);
    });

    test('same hash with another source or state moves those, not the generation', () => {
      t.store.services.upsert({ name: 'web', spec: spec('web'), hash: 'h1', source: 'api' });
      const moved = t.store.services.upsert({ name: 'web', spec: spec('web'), hash: 'h1', source: 'file:set', state: 'stopped' });
      assert.equal(moved.changed, false);
      assert.deepEqual([moved.row.generation, moved.row.source, moved.row.state], [1, 'file:set', 'stopped']);
      // Omitting state keeps the stored one.
      const kept = t.store.services.upsert({ name: 'web', spec: spec('web'), hash: 'h2', source: 'file:set' });
      assert.equal(kept.row.state, 'stopped');
    });

    test('deleting then upserting again revives the row with a new generation', () => {
      t.store.services.upsert({ name: 'web', spec: spec('web'), hash: 'h1', source: 'api' });
      assert.equal(t.store.services.markDeleting('web'), true);
      assert.equal(t.store.services.markDeleting('web'), false);
      assert.equal(t.store.services.get('web')?.deleting, true);
      const revived = t.store.services.upsert({ name: 'web', spec: spec('web'), hash: 'h1', source: 'api' });
      assert.equal(revived.changed, true);
      assert.equal(revived.created, false);
      assert.deepEqual([revived.row.generation, revived.row.deleting], [2, false]);
      // The delete's second phase arriving late must not take the revived row.
      assert.equal(t.store.services.remove('web'), false);
      assert.notEqual(t.store.services.get('web'), null);
    });

    test('remove deletes only a deleting row, cascades status, secrets and releases, keeps events and audit', () => {
      t.store.services.upsert({ name: 'web', spec: spec('web'), hash: 'h1', source: 'api' });
      t.store.status.put({ name: 'web', phase: 'running', observedGeneration: 1, conditions: [], url: null, lastError: null, lifecycle: null });
      t.store.secrets.put('web', 'TOKEN', Buffer.from([1, 2, 3]), 'k1');
      t.store.events.append('web', { type: 'Normal', reason: 'Created', message: 'created' });
      t.store.releases.record({ name: 'web', generation: 1, hash: 'h1', spec: spec('web'), revision: null });
      t.store.audit.append({ actor: 'admin', action: 'service.delete', target: 'web', details: null });

      assert.equal(t.store.services.remove('web'), false, 'not marked deleting yet');
      t.store.services.markDeleting('web');
      assert.equal(t.store.services.remove('web'), true);

      assert.equal(t.store.services.get('web'), null);
      assert.equal(t.store.status.get('web'), null);
      assert.deepEqual(t.store.secrets.keys('web'), []);
      assert.equal(t.store.events.list('web').length, 1);
      assert.equal(t.store.releases.list('web').length, 0, 'releases belong to the incarnation that was deleted');
      assert.equal(t.store.audit.list({ target: 'web' }).length, 1);
    });

    test('setState changes only the desired state, and not of a deleting row', () => {
      t.store.services.upsert({ name: 'web', spec: spec('web'), hash: 'h1', source: 'api' });
      assert.equal(t.store.services.setState('web', 'running'), false);
      assert.equal(t.store.services.setState('web', 'stopped'), true);
      assert.deepEqual([t.store.services.get('web')?.state, t.store.services.get('web')?.generation], ['stopped', 1]);
      t.store.services.markDeleting('web');
      assert.equal(t.store.services.setState('web', 'running'), false);
      assert.equal(t.store.services.setState('nope', 'running'), false);
    });

    test('listBySource, setSource and summaries', () => {
      t.store.services.upsert({ name: 'b', spec: spec('b'), hash: 'hb', source: 'file:x' });
      t.store.services.upsert({ name: 'a', spec: spec('a'), hash: 'ha', source: 'file:x' });
      t.store.services.upsert({ name: 'c', spec: spec('c'), hash: 'hc', source: 'api' });
      t.store.services.markDeleting('c');
      assert.deepEqual(t.store.services.listBySource('file:x').map((r) => r.name), ['a', 'b']);
      assert.equal(t.store.services.setSource('b', 'api'), true);
      assert.equal(t.store.services.setSource('b', 'api'), false);
      assert.deepEqual(t.store.services.listBySource('api').map((r) => r.name), ['b', 'c']);
      assert.deepEqual(t.store.services.list().map((r) => r.name), ['a', 'b', 'c']);
      assert.deepEqual(t.store.services.summaries(), [
        { name: 'a', hash: 'ha', generation: 1, state: 'running', deleting: false },
        { name: 'b', hash: 'hb', generation: 1, state: 'running', deleting: false },
        { name: 'c', hash: 'hc', generation: 1, state: 'running', deleting: true },
      ]);
    });

    test('summaries sees every write: this connection, another connection, and not a rolled-back one', () => {
      t.store.services.upsert({ name: 'a', spec: spec('a'), hash: 'h1', source: 'api' });
      assert.deepEqual(t.store.services.summaries().map((s) => s.generation), [1]);
      t.store.services.upsert({ name: 'a', spec: spec('a'), hash: 'h2', source: 'api' });
      assert.deepEqual(t.store.services.summaries().map((s) => s.generation), [2]);

      const other = openStore(t.file);
      try {
        other.services.upsert({ name: 'b', spec: spec('b'), hash: 'h1', source: 'api' });
        other.services.markDeleting('a');
      } finally {
        other.close();
      }
      assert.deepEqual(t.store.services.summaries().map((s) => [s.name, s.deleting]), [['a', true], ['b', false]]);

      assert.throws(() =>
        t.store.transaction(() => {
          t.store.services.upsert({ name: 'c', spec: spec('c'), hash: 'h1', source: 'api' });
          assert.equal(t.store.services.summaries().length, 3, 'own uncommitted write visible inside');
          throw new Error('roll back');
        }),
      );
      assert.deepEqual(t.store.services.summaries().map((s) => s.name), ['a', 'b']);
    });

    test('summaries hands out a fresh array of frozen rows', () => {
      t.store.services.upsert({ name: 'a', spec: spec('a'), hash: 'h1', source: 'api' });
      const first = t.store.services.summaries();
      first.pop();
      assert.equal(t.store.services.summaries().length, 1);
      assert.equal(Object.isFrozen(t.store.services.summaries()[0]), true);
    });

    test('names are bound parameters, never SQL', () => {
      const name = `x'); DROP TABLE services; --`;
      t.store.services.upsert({ name, spec: spec(name), hash: 'h', source: 'api' });
      assert.equal(t.store.services.get(name)?.name, name);
      assert.equal(t.store.services.list().length, 1);
    });

    test('a transaction that throws leaves nothing behind', () => {
      assert.throws(() =>
        t.store.transaction(() => {
          t.store.services.upsert({ name: 'web', spec: spec('web'), hash: 'h1', source: 'api' });
          t.store.audit.append({ actor: 'a', action: 'x', target: 'web', details: null });
          throw new Error('boom');
        }),
      );
      assert.equal(t.store.services.get('web'), null);
      assert.deepEqual(t.store.audit.list(), []);
    });
  });
});

describe('generation property', () => {
  test('generation = 1 + hash changes + revivals, for any sequence of upserts and delete requests', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('upsert' as const), hash: fc.constantFrom('h1', 'h2', 'h3') }),
      fc.record({ kind: fc.constant('delete' as const) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 30 }), (ops) => {
        const store = openStore(':memory:');
        try {
          let model: { hash: string; generation: number; deleting: boolean } | null = null;
          for (const o of ops) {
            if (o.kind === 'delete') {
              assert.equal(store.services.markDeleting('web'), model !== null && !model.deleting);
              if (model) model.deleting = true;
              continue;
            }
            const result = store.services.upsert({ name: 'web', spec: spec('web'), hash: o.hash, source: 'api' });
            const moves: boolean = model === null || model.deleting || model.hash !== o.hash;
            model = { hash: o.hash, generation: model === null ? 1 : model.generation + (moves ? 1 : 0), deleting: false };
            assert.equal(result.changed, moves);
            assert.equal(result.row.generation, model.generation);
          }
        } finally {
          store.close();
        }
      }),
      { numRuns: 200 },
    );
  });
});
