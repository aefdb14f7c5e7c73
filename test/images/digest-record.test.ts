// A digest an agent reported for a tag-only release is recorded once: the first report
// pins the release and a later one (another replica's agent, another control-plane
// replica taking its result) never replaces it (store/releases.ts recordImageDigest).

import assert from 'node:assert/strict';
import { afterEach, beforeEach, test } from 'node:test';
import { createReleasesStore } from '../../store/releases.ts';
import type { Sql, SqlText, Statement } from '../../store/sql.ts';
import { makeSpec, fakeHash } from '../helpers/spec.ts';
import { tempStore, type TempStore } from '../store/helpers.ts';

const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;
let ts: TempStore;

beforeEach(() => { ts = tempStore(); });
afterEach(() => ts.cleanup());

function tagRelease(): string {
  const spec = makeSpec({ name: 'img', image: 'registry.test:5000/web:stable' });
  const hash = fakeHash(spec);
  ts.store.releases.record({ name: 'img', generation: 1, hash, spec, revision: spec.image ?? null });
  return hash;
}

test('recording a second, different digest keeps the first', () => {
  const hash = tagRelease();
  assert.equal(ts.store.releases.recordImageDigest('img', 1, hash, D1), true);
  assert.equal(ts.store.releases.recordImageDigest('img', 1, hash, D2), false);
  assert.equal(ts.store.releases.get('img', 1)?.spec.revision, D1);
});

test('a digest recorded by another writer between the read and the write is not replaced (compare-and-set)', () => {
  const hash = tagRelease();
  // The releases store on a connection whose first read of the release is followed, before
  // anything else, by another writer recording D1: what two replicas racing would do.
  let raced = false;
  const racing: Sql = Object.create(ts.sql, {
    prepare: {
      value<P, R>(text: SqlText): Statement<P, R> {
        const inner = ts.sql.prepare<P, R>(text);
        if (typeof text !== 'string' || !/^SELECT \* FROM releases WHERE name = \? AND generation = \?$/.test(text)) return inner;
        return Object.assign(Object.create(inner) as Statement<P, R>, {
          get: (...params: unknown[]) => {
            const row = (inner.get as (...p: unknown[]) => R | undefined)(...params);
            if (!raced) {
              raced = true;
              const spec = ts.store.releases.get('img', 1)!.spec;
              ts.sql.prepare('UPDATE releases SET spec = ? WHERE name = ? AND generation = ?').run(JSON.stringify({ ...spec, revision: D1 }), 'img', 1);
            }
            return row;
          },
        });
      },
    },
  });
  const releases = createReleasesStore(racing, () => ts.clock.now);
  releases.recordImageDigest('img', 1, hash, D2);
  assert.equal(raced, true, 'the race was staged');
  assert.equal(ts.store.releases.get('img', 1)?.spec.revision, D1, 'the digest recorded first stays');
});
