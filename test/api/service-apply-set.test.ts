import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeSpec } from '../helpers/spec.ts';
import { startHarness, type Harness } from '../helpers/reconciler.ts';
import { isForgeError } from '../../errors/index.ts';

async function withHarness(fn: (h: Harness) => Promise<void> | void) {
  const h = startHarness();
  try { await fn(h); } finally { await h.close(); }
}

test('dry run returns the plan and writes nothing', () => withHarness((h) => {
  const plan = h.apply('file:a', [makeSpec({ name: 'web', env: { LOG: 'debug' } })], { dryRun: true });
  assert.deepEqual(plan.entries.map((e) => [e.name, e.op]), [['web', 'create']]);
  assert.equal(plan.dryRun, true);
  assert.equal(h.store.services.get('web'), null);
  assert.deepEqual(h.store.audit.list({}), []);
}));

test('the plan lists changed fields and masks env values', () => withHarness((h) => {
  h.apply('file:a', [makeSpec({ name: 'web', image: 'web:1', env: { TOKEN_HINT: 'old-value' } })]);
  const plan = h.apply('file:a', [makeSpec({ name: 'web', image: 'web:2', env: { TOKEN_HINT: 'new-value' } })], { dryRun: true });
  assert.deepEqual(plan.entries, [{
    name: 'web', op: 'update',
    changes: [
      { path: 'env.TOKEN_HINT', from: '(hidden)', to: '(hidden)' },
      { path: 'image', from: 'web:1', to: 'web:2' },
    ],
  }]);
  assert.ok(!JSON.stringify(plan).includes('new-value'));
}));

test('an unchanged spec is unchanged: no generation bump, nothing to nudge', () => withHarness((h) => {
  h.apply('file:a', [makeSpec({ name: 'web' })]);
  const plan = h.apply('file:a', [makeSpec({ name: 'web' })]);
  assert.deepEqual(plan.entries.map((e) => e.op), ['unchanged']);
  assert.deepEqual(plan.changed, []);
  assert.equal(h.store.services.get('web')!.generation, 1);
}));

test('prune deletes only services of the same source', () => withHarness((h) => {
  h.apply('file:a', [makeSpec({ name: 'one' }), makeSpec({ name: 'two' })]);
  h.apply('api', [makeSpec({ name: 'other' })]);
  const plan = h.apply('file:a', [makeSpec({ name: 'one' })], { prune: true });
  assert.deepEqual(plan.entries.map((e) => [e.name, e.op]), [['one', 'unchanged'], ['two', 'delete']]);
  assert.equal(h.store.services.get('two')!.deleting, true);
  assert.equal(h.store.services.get('other')!.deleting, false);
}));

test('without prune, absent services are left alone', () => withHarness((h) => {
  h.apply('file:a', [makeSpec({ name: 'one' }), makeSpec({ name: 'two' })]);
  const plan = h.apply('file:a', [makeSpec({ name: 'one' })]);
  assert.deepEqual(plan.entries.map((e) => e.op), ['unchanged']);
  assert.equal(h.store.services.get('two')!.deleting, false);
}));

test('a service owned by another source is refused with E_CONFLICT and nothing is written', () => withHarness((h) => {
  h.apply('api', [makeSpec({ name: 'shared', image: 'a:1' })]);
  assert.throws(
    () => h.apply('file:a', [makeSpec({ name: 'mine' }), makeSpec({ name: 'shared', image: 'b:1' })]),
    (e: unknown) => isForgeError(e) && e.code === 'E_CONFLICT' && e.message.includes('shared (owned by api)'),
  );
  assert.equal(h.store.services.get('mine'), null);
  assert.equal(h.store.services.get('shared')!.spec.image, 'a:1');
}));

test('the same name twice in one set is refused', () => withHarness((h) => {
  assert.throws(() => h.apply('file:a', [makeSpec({ name: 'x' }), makeSpec({ name: 'x' })]), /appears twice/);
}));
