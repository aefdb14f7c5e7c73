// diff's surge fallback (issue 13 item 13): when the provider found no room to start a
// new instance beside an old one, live replicas are replaced one at a time, each
// stopped before its replacement starts. Exact action lists, as the other diff tables.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { diff, type DiffOptions } from '../../reconciler/diff.ts';
import type { Action, Observed, ObservedInstance, ProviderCapabilities } from '../../providers/types.ts';
import { fakeHash, makeDesired, makeInstance, makeSpec } from '../helpers/spec.ts';

const NOW = 1_700_000_000_000;
const REPLACE_ONLY: ProviderCapabilities = { updateInPlace: false };
const SHORT = 'needs 0.5 CPU, the most free on any agent is 0';
const blocked: DiffOptions = { surgeBlocked: SHORT };

const old2 = makeSpec({ replicas: 2, env: { VERSION: 'v1' } });
const new2 = makeSpec({ replicas: 2, env: { VERSION: 'v2' } });
const desired = makeDesired(new2, { generation: 2 });
const observe = (...instances: ObservedInstance[]): Observed => ({ key: 'web', instances });
const stopFirst = (id: string, replica: number): Action => ({
  kind: 'stop', key: 'web', instanceId: id,
  reason: `replica ${replica}: no room for its new instance beside the old one (${SHORT}); stopping the old one first`,
});
const replaceOf = (id: string, replica: number): Action => ({
  kind: 'replace', key: 'web', instanceId: id, replica, spec: new2, hash: fakeHash(new2), generation: 2, changed: ['env.VERSION'],
  reason: `replica ${replica} spec changed: env.VERSION; provider cannot update in place`,
});

interface Case { name: string; observed: Observed; opts?: DiffOptions; expected: Action[] }

const cases: Case[] = [
  {
    name: 'with room, both replicas surge (a new instance beside each old one)',
    observed: observe(makeInstance('a0', 0, old2), makeInstance('a1', 1, old2)),
    expected: [replaceOf('a0', 0), replaceOf('a1', 1)],
  },
  {
    name: 'without room, only the lowest replica is stopped first; the other waits its turn',
    observed: observe(makeInstance('a0', 0, old2), makeInstance('a1', 1, old2)),
    opts: blocked,
    expected: [stopFirst('a0', 0)],
  },
  {
    name: 'while the old instance is stopping, its replacement waits for the room',
    observed: observe(makeInstance('a0', 0, old2, { state: 'stopping' }), makeInstance('a1', 1, old2)),
    opts: blocked,
    expected: [{
      kind: 'noop', key: 'web',
      reason: 'nothing to do; waiting for replica 0\'s old instance to stop before its replacement starts, ' +
        'replica 0 to be replaced before replica 1 (no room to run both releases at once)',
    }],
  },
  {
    name: 'once stopped, the old instance is replaced (its room is free); the other replica still waits',
    observed: observe(makeInstance('a0', 0, old2, { state: 'stopped', health: 'unknown' }), makeInstance('a1', 1, old2)),
    opts: blocked,
    expected: [replaceOf('a0', 0)],
  },
  {
    name: 'the stopped old copy goes once its replacement exists; the next replica waits for that one to be ready',
    observed: observe(
      makeInstance('a0', 0, old2, { state: 'stopped', health: 'unknown' }),
      makeInstance('b0', 0, new2, { state: 'starting', health: 'unknown' }),
      makeInstance('a1', 1, old2),
    ),
    opts: blocked,
    expected: [{ kind: 'destroy', key: 'web', instanceId: 'a0', reason: 'duplicate in replica slot 0: keeping b0' }],
  },
  {
    name: 'replica 0 ready on the new release: replica 1 is stopped first in its turn',
    observed: observe(makeInstance('b0', 0, new2), makeInstance('a1', 1, old2)),
    opts: blocked,
    expected: [stopFirst('a1', 1)],
  },
  {
    name: 'a failed old instance holds no room: it is replaced at once, not stopped first',
    observed: observe(makeInstance('a0', 0, old2, { state: 'failed', reason: 'exited with code 1' }), makeInstance('b1', 1, new2)),
    opts: blocked,
    expected: [{ ...replaceOf('a0', 0), reason: 'replica 0 failed (exited with code 1) and its spec changed: env.VERSION' } as Action],
  },
];

for (const c of cases) {
  test(`diff surge fallback: ${c.name}`, () => {
    assert.deepEqual(diff(desired, c.observed, REPLACE_ONLY, NOW, c.opts), c.expected);
  });
}
