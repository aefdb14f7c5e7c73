// A refused first release has no previous release to keep serving: its event and
// the blocked pass's reason must not say one does, and must name the way out.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { diff } from '../../reconciler/diff.ts';
import { specHash } from '../../specs/hash.ts';
import { startHarness } from '../helpers/reconciler.ts';
import { makeSpec } from '../helpers/spec.ts';

test('the first release of a service fails: the event says nothing serves, and how to retry', async () => {
  const h = startHarness({ createState: () => 'failed' });
  try {
    h.apply('test', [makeSpec({ name: 'web' })]);
    await h.converge();
    const events = h.store.events.list('web').filter((e) => e.reason === 'ReleaseFailed');
    assert.equal(events.length, 1, JSON.stringify(h.store.events.list('web')));
    assert.doesNotMatch(events[0]!.message, /previous release keeps serving/);
    assert.match(events[0]!.message, /^generation 1 failed: .*; no earlier release is running: fix the cause, then retry with forge restart web \(or change the spec\)$/);
  } finally {
    await h.close();
  }
});

test('diff: a bad first release is blocked with a reason that promises no earlier release', () => {
  const spec = makeSpec({ name: 'web' });
  const hash = specHash(spec);
  const actions = diff(
    { key: 'web', spec, hash, generation: 1, state: 'running', deleting: false },
    { key: 'web', instances: [{ id: 'm0', key: 'web', replica: 0, hash, generation: 1, spec, region: spec.region, state: 'failed', health: 'unhealthy' }] },
    { updateInPlace: true }, 0, { badHashes: new Set([hash]) },
  );
  assert.deepEqual(actions, [{
    kind: 'noop', key: 'web', blockedBy: 'bad-release',
    reason: `release ${hash.slice(0, 12)} (generation 1) failed and no earlier release is running; fix the cause, then retry with forge restart web (or change the spec)`,
  }]);
});
