import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeSpec } from '../helpers/spec.ts';
import { startHarness } from '../helpers/reconciler.ts';
import { rollback } from '../../api/service-rollback.ts';
import { isForgeError } from '../../errors/index.ts';

test('rollback makes the previous release desired again as a new generation', async () => {
  const h = startHarness();
  try {
    h.apply('file:a', [makeSpec({ name: 'web', image: 'web:1' })]);
    await h.converge();
    h.apply('file:a', [makeSpec({ name: 'web', image: 'web:2' })]);
    await h.converge();
    const result = rollback(h.store, 'web', { actor: 'test' });
    assert.deepEqual(result, { name: 'web', toGeneration: 1, generation: 3 });
    h.loop.nudge('web');
    await h.converge();
    assert.equal(h.provider.world.all()[0]!.spec?.image, 'web:1');
    assert.equal(h.store.status.get('web')!.observedGeneration, 3);
    assert.deepEqual(h.store.releases.list('web').map((r) => [r.generation, r.outcome]), [[3, 'succeeded'], [2, 'succeeded'], [1, 'succeeded']]);
    const explicit = rollback(h.store, 'web', { to: 2 });
    assert.deepEqual(explicit, { name: 'web', toGeneration: 2, generation: 4 });
    assert.equal(h.store.audit.list({ target: 'web' }).filter((a) => a.action === 'rollback').length, 2);
  } finally {
    await h.close();
  }
});

test('rollback refuses unknown services, missing releases and having nothing earlier', async () => {
  const h = startHarness();
  try {
    const code = (fn: () => unknown) => { try { fn(); return 'none'; } catch (e) { return isForgeError(e) ? e.code : 'other'; } };
    assert.equal(code(() => rollback(h.store, 'nope')), 'E_NOT_FOUND');
    h.apply('file:a', [makeSpec({ name: 'web' })]);
    await h.converge();
    assert.equal(code(() => rollback(h.store, 'web')), 'E_CONFLICT');
    assert.equal(code(() => rollback(h.store, 'web', { to: 9 })), 'E_NOT_FOUND');
    assert.equal(code(() => rollback(h.store, 'web', { to: 1 })), 'E_CONFLICT');
  } finally {
    await h.close();
  }
});
