// Issue 13.21 (parts 2 and 3): an event names the instance it is about, and a
// service's events belong to that service, not to its name: a service created
// again under a deleted one's name starts with a clean history.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { makeSpec } from '../helpers/spec.ts';
import { startHarness, type Harness } from '../helpers/reconciler.ts';

async function withHarness(fn: (h: Harness) => Promise<void>) {
  const h = startHarness();
  try { await fn(h); } finally { await h.close(); }
}

test('the event of a replacement names the instance that died, and the one that took its place', () => withHarness(async (h) => {
  h.apply('file:test', [makeSpec({ name: 'web' })]);
  await h.converge();
  const [dead] = h.provider.world.all();
  h.provider.world.setState(dead!.id, 'failed');
  await h.provider.resync?.(true);
  await h.converge();
  const [fresh] = h.provider.world.all();
  assert.notEqual(fresh!.id, dead!.id);
  const replace = h.store.events.list('web').find((e) => e.reason === 'Replace');
  assert.ok(replace, 'a Replace event');
  assert.equal(replace.message, `replica 0 failed: no reason reported; ${dead!.id} replaced by ${fresh!.id}`);
}));

test('events of a deleted service do not reappear under a new service of the same name', () => withHarness(async (h) => {
  h.apply('file:test', [makeSpec({ name: 'web' })]);
  await h.converge();
  h.store.events.append('web', { type: 'Warning', reason: 'OldIncarnation', message: 'from the first web' });
  h.apply('file:test', [], { prune: true });
  await h.converge();
  assert.equal(h.store.services.get('web'), null);

  h.apply('file:test', [makeSpec({ name: 'web', image: 'registry.example/web:2' })]);
  await h.converge();
  const reasons = h.store.events.list('web').map((e) => e.reason);
  assert.deepEqual(reasons, ['PhaseCreating', 'Create', 'PhaseRunning']);
}));
