import { test } from 'node:test';
import assert from 'node:assert/strict';
import { diff, isNoop, type DiffOptions } from '../../reconciler/diff.ts';
import { changedFields } from '../../reconciler/spec-fields.ts';
import type { Action, Desired, Observed, ObservedInstance, ProviderCapabilities } from '../../providers/types.ts';
import type { ServiceSpec } from '../../specs/types.ts';
import { fakeHash, makeDesired, makeInstance, makeSpec } from '../helpers/spec.ts';

const NOW = 1_700_000_000_000;
const IN_PLACE: ProviderCapabilities = { updateInPlace: true };
const REPLACE_ONLY: ProviderCapabilities = { updateInPlace: false };

const base = makeSpec();
const three = makeSpec({ replicas: 3 });
const observe = (...instances: ObservedInstance[]): Observed => ({ key: 'web', instances });
const createOf = (d: Desired, replica: number, reason: string): Action => ({
  kind: 'create', key: 'web', replica, spec: d.spec, hash: d.hash, generation: d.generation, reason,
});

const relabelOf = (d: Desired, instanceId: string, replica: number, oldHash: string): Action => ({
  kind: 'update', key: 'web', instanceId, replica, spec: d.spec, hash: d.hash, generation: d.generation, changed: [],
  reason: `replica ${replica} runs an equivalent spec labelled ${oldHash.slice(0, 12)}: relabel only, no restart`,
});

interface Case {
  name: string;
  desired: Desired | null;
  observed: Observed | null;
  caps?: ProviderCapabilities;
  opts?: DiffOptions;
  expected: Action[];
}

const v2 = makeSpec({
  image: 'registry.example/web:2',
  env: { FOO: 'value-foo-new', NEW: 'value-new' },
  resources: { memoryMb: 1024 },
});
const v1 = makeSpec({ env: { FOO: 'value-foo-old', GONE: 'value-gone' } });
const v2Desired = makeDesired(v2, { generation: 2 });
const updatedFields = ['env.FOO', 'env.GONE', 'env.NEW', 'image', 'resources.memoryMb'];

// The same service as `base`, as an older Forge might have labelled it: defaults
// omitted or spelled out, undefined keys, sets in another order.
const sparse = {
  name: 'web', image: 'registry.example/web:1', region: 'iad', replicas: 1,
  health: { path: '/health' }, resources: { memoryMb: 512 }, runtime: undefined,
} as unknown as ServiceSpec;
const domainsSorted = makeSpec({ domains: ['a.example.com', 'b.example.com'], secrets: ['DB_URL', 'TOKEN'], env: { A: '1', B: '2' } });
const domainsShuffled = { ...domainsSorted, domains: ['b.example.com', 'a.example.com'], secrets: ['TOKEN', 'DB_URL'], env: { B: '2', A: '1' } };

const cases: Case[] = [
  {
    name: 'create from nothing',
    desired: makeDesired(base),
    observed: null,
    expected: [createOf(makeDesired(base), 0, 'replica 0 of 1 is missing')],
  },
  {
    name: 'scale 1→3 creates slots 1 and 2 (a provider without in-place update leaves slot 0 alone)',
    desired: makeDesired(three, { generation: 2 }),
    caps: REPLACE_ONLY,
    observed: observe(makeInstance('m0', 0, base)),
    expected: [
      createOf(makeDesired(three, { generation: 2 }), 1, 'replica 1 of 3 is missing'),
      createOf(makeDesired(three, { generation: 2 }), 2, 'replica 2 of 3 is missing'),
    ],
  },
  {
    name: 'scale 1→3 with in-place update also relabels slot 0 (no restart: changed is empty)',
    desired: makeDesired(three, { generation: 2 }),
    observed: observe(makeInstance('m0', 0, base)),
    expected: [
      createOf(makeDesired(three, { generation: 2 }), 1, 'replica 1 of 3 is missing'),
      createOf(makeDesired(three, { generation: 2 }), 2, 'replica 2 of 3 is missing'),
      relabelOf(makeDesired(three, { generation: 2 }), 'm0', 0, fakeHash(base)),
    ],
  },
  {
    name: 'scale 3→1 destroys slots 2 then 1',
    desired: makeDesired(base, { generation: 3 }),
    caps: REPLACE_ONLY,
    observed: observe(makeInstance('m0', 0, three), makeInstance('m1', 1, three), makeInstance('m2', 2, three)),
    expected: [
      { kind: 'destroy', key: 'web', instanceId: 'm2', reason: 'scale down: replica 2 is beyond replicas=1' },
      { kind: 'destroy', key: 'web', instanceId: 'm1', reason: 'scale down: replica 1 is beyond replicas=1' },
    ],
  },
  {
    name: 'scale 3→1 with in-place update destroys slots 2 then 1 and relabels slot 0',
    desired: makeDesired(base, { generation: 3 }),
    observed: observe(makeInstance('m0', 0, three), makeInstance('m1', 1, three), makeInstance('m2', 2, three)),
    expected: [
      { kind: 'destroy', key: 'web', instanceId: 'm2', reason: 'scale down: replica 2 is beyond replicas=1' },
      { kind: 'destroy', key: 'web', instanceId: 'm1', reason: 'scale down: replica 1 is beyond replicas=1' },
      relabelOf(makeDesired(base, { generation: 3 }), 'm0', 0, fakeHash(three)),
    ],
  },
  {
    name: 'image, env and memory change update in place',
    desired: v2Desired,
    observed: observe(makeInstance('m0', 0, v1)),
    expected: [{
      kind: 'update', key: 'web', instanceId: 'm0', replica: 0, spec: v2, hash: v2Desired.hash, generation: 2,
      changed: updatedFields, reason: `spec changed, updating in place: ${updatedFields.join(', ')}`,
    }],
  },
  {
    name: 'the same change is a replace when the provider cannot update in place',
    desired: v2Desired,
    caps: REPLACE_ONLY,
    observed: observe(makeInstance('m0', 0, v1)),
    expected: [{
      kind: 'replace', key: 'web', instanceId: 'm0', replica: 0, spec: v2, hash: v2Desired.hash, generation: 2,
      changed: updatedFields,
      reason: `replica 0 spec changed: ${updatedFields.join(', ')}; provider cannot update in place`,
    }],
  },
  {
    name: 'a change to the run command needs a new instance even when in-place is supported',
    desired: makeDesired(makeSpec({ image: undefined, run: { command: 'node b.js' } })),
    observed: observe(makeInstance('m0', 0, makeSpec({ image: undefined, run: { command: 'node a.js' } }))),
    expected: [{
      kind: 'replace', key: 'web', instanceId: 'm0', replica: 0,
      spec: makeSpec({ image: undefined, run: { command: 'node b.js' } }),
      hash: fakeHash(makeSpec({ image: undefined, run: { command: 'node b.js' } })), generation: 1,
      changed: ['run.command'], reason: 'replica 0 spec changed: run.command; needs a new instance',
    }],
  },
  {
    name: 'an instance whose spec is unknown and whose hash differs is replaced',
    desired: makeDesired(base),
    observed: observe(makeInstance('m0', 0, base, { spec: undefined, hash: 'old0123456789abcdef' })),
    expected: [{
      kind: 'replace', key: 'web', instanceId: 'm0', replica: 0, spec: base, hash: fakeHash(base), generation: 1,
      changed: ['spec'],
      reason: `replica 0 runs release old012345678 (spec unknown), desired ${fakeHash(base).slice(0, 12)}`,
    }],
  },
  {
    name: 'a region change is refused with one error and nothing else',
    desired: makeDesired(makeSpec({ region: 'lhr', replicas: 2 })),
    observed: observe(makeInstance('m0', 0, base)),
    expected: [{
      kind: 'error', key: 'web', code: 'E_REGION_IMMUTABLE',
      reason: 'region is immutable: instances run in iad but the spec asks for lhr; ' +
        'delete the service (forge delete web) and deploy it again to move it',
    }],
  },
  {
    name: 'an orphan is destroyed as a whole',
    desired: null,
    observed: observe(makeInstance('m0', 0, base), makeInstance('m1', 1, base)),
    expected: [{ kind: 'destroy', key: 'web', reason: 'orphan: 2 instance(s) labelled web but no service is desired' }],
  },
  {
    name: 'a deleted service is destroyed as a whole',
    desired: makeDesired(base, { deleting: true }),
    observed: observe(makeInstance('m0', 0, base)),
    expected: [{ kind: 'destroy', key: 'web', reason: 'service is being deleted: destroying 1 instance(s)' }],
  },
  {
    name: 'a deleted service with nothing observed is done',
    desired: makeDesired(base, { deleting: true }),
    observed: observe(),
    expected: [{ kind: 'noop', key: 'web', reason: 'nothing to delete' }],
  },
  {
    name: 'nothing desired and nothing observed',
    desired: null,
    observed: null,
    expected: [{ kind: 'noop', key: '', reason: 'nothing to delete' }],
  },
  {
    name: 'stop stops running instances and creates nothing',
    desired: makeDesired(makeSpec({ replicas: 2 }), { state: 'stopped' }),
    observed: observe(makeInstance('m0', 0, makeSpec({ replicas: 2 }))),
    expected: [{ kind: 'stop', key: 'web', instanceId: 'm0', reason: 'service is stopped; replica 0 is running' }],
  },
  {
    name: 'a stopped service with stopped instances is up to date',
    desired: makeDesired(base, { state: 'stopped' }),
    observed: observe(makeInstance('m0', 0, base, { state: 'stopped' })),
    expected: [{ kind: 'noop', key: 'web', reason: 'up to date' }],
  },
  {
    name: 'start starts a stopped current instance',
    desired: makeDesired(base),
    observed: observe(makeInstance('m0', 0, base, { state: 'stopped', health: 'unknown' })),
    expected: [{ kind: 'start', key: 'web', instanceId: 'm0', reason: 'service is running; replica 0 is stopped' }],
  },
  {
    name: 'a stopped stale instance is updated first, then started',
    desired: v2Desired,
    observed: observe(makeInstance('m0', 0, v1, { state: 'stopped' })),
    expected: [
      {
        kind: 'update', key: 'web', instanceId: 'm0', replica: 0, spec: v2, hash: v2Desired.hash, generation: 2,
        changed: updatedFields, reason: `spec changed, updating in place: ${updatedFields.join(', ')}`,
      },
      { kind: 'start', key: 'web', instanceId: 'm0', reason: 'service is running; replica 0 is stopped' },
    ],
  },
  {
    name: 'duplicates in one slot: the current healthy one stays',
    desired: makeDesired(base),
    observed: observe(
      makeInstance('m-c', 0, base, { health: 'unhealthy' }),
      makeInstance('m-a', 0, v1),
      makeInstance('m-b', 0, base),
    ),
    expected: [
      { kind: 'destroy', key: 'web', instanceId: 'm-a', reason: `replica 0 superseded by m-b of release ${fakeHash(base).slice(0, 12)}` },
      { kind: 'destroy', key: 'web', instanceId: 'm-c', reason: 'duplicate in replica slot 0: keeping m-b' },
    ],
  },
  {
    name: 'cutover: a new instance that is not ready yet leaves the old one serving',
    desired: makeDesired(base),
    caps: REPLACE_ONLY,
    observed: observe(makeInstance('old', 0, v1), makeInstance('new', 0, base, { state: 'starting', health: 'unknown' })),
    expected: [{
      kind: 'noop', key: 'web',
      reason: 'nothing to do; waiting for replica 0 (starting), replica 0 of the new release to become healthy (the old one keeps serving)',
    }],
  },
  {
    name: 'cutover is all at once: no old instance goes while another slot\'s new one is not ready',
    desired: makeDesired(makeSpec({ replicas: 2 })),
    caps: REPLACE_ONLY,
    observed: observe(
      makeInstance('old0', 0, makeSpec({ replicas: 2, image: 'web:0' })),
      makeInstance('new0', 0, makeSpec({ replicas: 2 })),
      makeInstance('old1', 1, makeSpec({ replicas: 2, image: 'web:0' })),
      makeInstance('new1', 1, makeSpec({ replicas: 2 }), { state: 'starting', health: 'unknown' }),
    ),
    expected: [{
      kind: 'noop', key: 'web',
      reason: 'nothing to do; waiting for replica 1 (starting), replica 1 of the new release to become healthy (the old one keeps serving)',
    }],
  },
  {
    name: 'cutover: a failed new instance is tried again and the old one is not touched',
    desired: makeDesired(base),
    caps: REPLACE_ONLY,
    observed: observe(makeInstance('old', 0, v1), makeInstance('new', 0, base, { state: 'failed', health: 'unknown', reason: 'exited with code 1' })),
    expected: [{
      kind: 'replace', key: 'web', instanceId: 'new', replica: 0, spec: base, hash: fakeHash(base), generation: 1, changed: [],
      reason: 'replica 0 failed: exited with code 1',
    }],
  },
  {
    name: 'cutover to a bad release: the new instance goes, the old one keeps serving',
    desired: makeDesired(base),
    caps: REPLACE_ONLY,
    opts: { badHashes: new Set([fakeHash(base)]) },
    observed: observe(makeInstance('old', 0, v1), makeInstance('new', 0, base, { state: 'failed', health: 'unknown' })),
    expected: [{ kind: 'destroy', key: 'web', instanceId: 'new', reason: 'duplicate in replica slot 0: keeping old' }],
  },
  {
    name: 'a running instance that fails its health check is replaced',
    desired: makeDesired(base),
    observed: observe(makeInstance('m0', 0, base, { health: 'unhealthy', reason: 'health check /health returned 503 three times' })),
    expected: [{
      kind: 'replace', key: 'web', instanceId: 'm0', replica: 0, spec: base, hash: fakeHash(base), generation: 1, changed: [],
      reason: 'replica 0 failed: health check /health returned 503 three times',
    }],
  },
  {
    name: 'the replacement of an unhealthy instance is kept over it',
    desired: makeDesired(base),
    caps: REPLACE_ONLY,
    observed: observe(
      makeInstance('a-sick', 0, base, { health: 'unhealthy' }),
      makeInstance('z-new', 0, base, { state: 'creating', health: 'unknown' }),
    ),
    expected: [{ kind: 'destroy', key: 'web', instanceId: 'a-sick', reason: 'duplicate in replica slot 0: keeping z-new' }],
  },
  {
    name: 'a running service keeps the copy on its way up over a stopped one of the same slot (a start that moved it)',
    desired: makeDesired(base),
    caps: REPLACE_ONLY,
    observed: observe(
      makeInstance('a-kept', 0, base, { state: 'stopped', health: 'unknown' }),
      makeInstance('z-moved', 0, base, { state: 'creating', health: 'unknown' }),
    ),
    expected: [{ kind: 'destroy', key: 'web', instanceId: 'a-kept', reason: 'duplicate in replica slot 0: keeping z-moved' }],
  },
  {
    name: 'a stopped service keeps the stopped copy of a slot and removes the other',
    desired: makeDesired(base, { state: 'stopped' }),
    caps: REPLACE_ONLY,
    observed: observe(
      makeInstance('a-live', 0, base, { state: 'starting', health: 'unknown' }),
      makeInstance('z-kept', 0, base, { state: 'stopped', health: 'unknown' }),
    ),
    expected: [{ kind: 'destroy', key: 'web', instanceId: 'a-live', reason: 'duplicate in replica slot 0: keeping z-kept' }],
  },
  {
    name: 'identical duplicates: the lowest id stays',
    desired: makeDesired(base),
    observed: observe(makeInstance('m9', 0, base), makeInstance('m1', 0, base)),
    expected: [{ kind: 'destroy', key: 'web', instanceId: 'm9', reason: 'duplicate in replica slot 0: keeping m1' }],
  },
  {
    name: 'defaults not drift: an instance on the desired hash reporting a sparse spec is up to date',
    desired: makeDesired(base),
    observed: observe(makeInstance('m0', 0, sparse, { hash: fakeHash(base) })),
    expected: [{ kind: 'noop', key: 'web', reason: 'up to date' }],
  },
  {
    name: 'defaults not drift: a sparse spec with an old image names only the image as changed',
    desired: makeDesired(makeSpec({ image: 'registry.example/web:2' }), { generation: 2 }),
    observed: observe(makeInstance('m0', 0, sparse, { hash: fakeHash(sparse) })),
    expected: [{
      kind: 'update', key: 'web', instanceId: 'm0', replica: 0, spec: makeSpec({ image: 'registry.example/web:2' }),
      hash: fakeHash(makeSpec({ image: 'registry.example/web:2' })), generation: 2,
      changed: ['image'], reason: 'spec changed, updating in place: image',
    }],
  },
  {
    name: 'defaults not drift: an equivalent sparse spec under another hash is only relabelled',
    desired: makeDesired(base),
    observed: observe(makeInstance('m0', 0, sparse, { hash: fakeHash(sparse) })),
    expected: [relabelOf(makeDesired(base), 'm0', 0, fakeHash(sparse))],
  },
  {
    name: 'order of env keys, secrets and domains is not drift: no changed fields, no replace',
    desired: makeDesired(domainsSorted),
    caps: REPLACE_ONLY,
    observed: observe(makeInstance('m0', 0, domainsShuffled, { hash: fakeHash(domainsShuffled) })),
    expected: [{ kind: 'noop', key: 'web', reason: 'up to date' }],
  },
  {
    name: 'a tampered label on a stopped instance: relabelled, then started',
    desired: makeDesired(base),
    observed: observe(makeInstance('m0', 0, base, { hash: 'tampered', state: 'stopped' })),
    expected: [
      relabelOf(makeDesired(base), 'm0', 0, 'tampered'),
      { kind: 'start', key: 'web', instanceId: 'm0', reason: 'service is running; replica 0 is stopped' },
    ],
  },
  {
    name: 'a failed current instance is replaced with its reason',
    desired: makeDesired(base),
    observed: observe(makeInstance('m0', 0, base, { state: 'failed', health: 'unhealthy', reason: 'exited with code 1' })),
    expected: [{
      kind: 'replace', key: 'web', instanceId: 'm0', replica: 0, spec: base, hash: fakeHash(base), generation: 1,
      changed: [], reason: 'replica 0 failed: exited with code 1',
    }],
  },
  {
    name: 'a bad release is not rolled toward: one blocked noop',
    desired: v2Desired,
    opts: { badHashes: new Set([v2Desired.hash]) },
    observed: observe(makeInstance('m0', 0, v1)),
    expected: [{
      kind: 'noop', key: 'web', blockedBy: 'bad-release',
      reason: `release ${v2Desired.hash.slice(0, 12)} (generation 2) failed; waiting for a spec change while the previous release keeps serving`,
    }],
  },
  {
    name: 'a bad release still lets a stop through',
    desired: makeDesired(v2, { generation: 2, state: 'stopped' }),
    opts: { badHashes: new Set([v2Desired.hash]) },
    observed: observe(makeInstance('m0', 0, v1)),
    expected: [{ kind: 'stop', key: 'web', instanceId: 'm0', reason: 'service is stopped; replica 0 is running' }],
  },
  {
    name: 'a bad release sharing a slot with the previous one: the previous one stays',
    desired: v2Desired,
    opts: { badHashes: new Set([v2Desired.hash]) },
    observed: observe(
      makeInstance('m-new', 0, v2, { generation: 2, health: 'unhealthy' }),
      makeInstance('m-old', 0, v1),
    ),
    expected: [{ kind: 'destroy', key: 'web', instanceId: 'm-new', reason: 'duplicate in replica slot 0: keeping m-old' }],
  },
  {
    name: 'instances still coming up: nothing to do, and the noop says why',
    desired: makeDesired(makeSpec({ replicas: 2 })),
    observed: observe(
      makeInstance('m0', 0, makeSpec({ replicas: 2 }), { state: 'creating', health: 'unknown' }),
      makeInstance('m1', 1, makeSpec({ replicas: 2 }), { state: 'starting', health: 'unknown' }),
    ),
    expected: [{ kind: 'noop', key: 'web', reason: 'nothing to do; waiting for replica 0 (creating), replica 1 (starting)' }],
  },
  {
    name: 'everything at once comes out in the documented order',
    desired: makeDesired(makeSpec({ ...v2, replicas: 3 }), { generation: 2 }),
    observed: observe(
      makeInstance('m4', 4, v1),
      makeInstance('m0', 0, v1),
      makeInstance('m2', 2, makeSpec({ ...v2, replicas: 3 }), { state: 'stopped' }),
    ),
    expected: [
      { kind: 'destroy', key: 'web', instanceId: 'm4', reason: 'scale down: replica 4 is beyond replicas=3' },
      createOf(makeDesired(makeSpec({ ...v2, replicas: 3 }), { generation: 2 }), 1, 'replica 1 of 3 is missing'),
      {
        kind: 'update', key: 'web', instanceId: 'm0', replica: 0, spec: makeSpec({ ...v2, replicas: 3 }),
        hash: fakeHash(makeSpec({ ...v2, replicas: 3 })), generation: 2,
        changed: updatedFields, reason: `spec changed, updating in place: ${updatedFields.join(', ')}`,
      },
      { kind: 'start', key: 'web', instanceId: 'm2', reason: 'service is running; replica 2 is stopped' },
    ],
  },
];

for (const c of cases) {
  test(`diff: ${c.name}`, () => {
    const actions = diff(c.desired, c.observed, c.caps ?? IN_PLACE, NOW, c.opts);
    assert.deepEqual(actions, c.expected);
    assert.equal(isNoop(actions), c.expected.every((a) => a.kind === 'noop'));
  });
}

test('diff: env values never appear in reasons or changed fields', () => {
  for (const caps of [IN_PLACE, REPLACE_ONLY]) {
    const text = JSON.stringify(diff(v2Desired, observe(makeInstance('m0', 0, v1)), caps, NOW)
      .map((a) => ({ reason: a.reason, changed: 'changed' in a ? a.changed : [] })));
    for (const value of ['value-foo-new', 'value-foo-old', 'value-gone', 'value-new']) {
      assert.equal(text.includes(value), false, `${value} leaked into ${text}`);
    }
  }
});

test('diff: same input, same output (no hidden clock or randomness)', () => {
  const observed = observe(makeInstance('m0', 0, v1), makeInstance('m3', 3, v1));
  assert.deepEqual(diff(v2Desired, observed, IN_PLACE, NOW), diff(v2Desired, observed, IN_PLACE, NOW + 60_000));
});

test('changedFields: spelled-out defaults, undefined keys and set order are not changes', () => {
  assert.deepEqual(changedFields(sparse, base), []);
  assert.deepEqual(changedFields(domainsShuffled, domainsSorted), []);
  assert.deepEqual(changedFields(base, makeSpec({ replicas: 5 })), [], 'replicas is about the service, not an instance');
  assert.deepEqual(changedFields(v1, v2), updatedFields);
  assert.deepEqual(changedFields(base, makeSpec({ health: { path: '/ready' }, resources: { cpuKind: 'performance' } })),
    ['health.path', 'resources.cpuKind']);
  assert.deepEqual(changedFields(base, makeSpec({ build: { commands: ['npm ci'] } })), ['build']);
});

test('isNoop: only noops count as no work', () => {
  assert.equal(isNoop([]), true);
  assert.equal(isNoop([{ kind: 'noop', key: 'web', reason: 'up to date' }]), true);
  assert.equal(isNoop([{ kind: 'error', key: 'web', code: 'E_REGION_IMMUTABLE', reason: 'x' }]), false);
  assert.equal(isNoop([{ kind: 'stop', key: 'web', instanceId: 'm0', reason: 'x' }]), false);
});
