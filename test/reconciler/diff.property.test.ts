import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { diff, isNoop } from '../../reconciler/diff.ts';
import type { Desired, Observed, ObservedInstance, ProviderCapabilities } from '../../providers/types.ts';
import type { ServiceSpec } from '../../specs/types.ts';
import { fakeHash, makeSpec } from '../helpers/spec.ts';
import { applyActionsToObserved } from '../helpers/simulate.ts';

const NOW = 1_700_000_000_000;
const RUNS = { numRuns: 400, seed: 20240611 };

const specArb: fc.Arbitrary<ServiceSpec> = fc.record({
  image: fc.constantFrom('web:1', 'web:2'),
  memoryMb: fc.constantFrom(256, 512),
  env: fc.dictionary(fc.constantFrom('A', 'B', 'C'), fc.constantFrom('x', 'y'), { maxKeys: 3 }),
  replicas: fc.constantFrom(0, 1, 1, 2, 3, 3),
  region: fc.constantFrom('iad', 'iad', 'iad', 'lhr'),
  command: fc.option(fc.constantFrom('node a.js', 'node b.js'), { nil: undefined }),
  domains: fc.uniqueArray(fc.constantFrom('a.example.com', 'b.example.com'), { maxLength: 2 }),
}).map(({ image, memoryMb, env, replicas, region, command, domains }) =>
  makeSpec(command === undefined
    ? { image, resources: { memoryMb }, env, replicas, region, domains }
    : { image: undefined, run: { command }, resources: { memoryMb }, env, replicas, region, domains }));

const desiredArb: fc.Arbitrary<Desired> = fc.record({
  spec: specArb,
  generation: fc.integer({ min: 1, max: 5 }),
  state: fc.constantFrom<'running' | 'stopped'>('running', 'running', 'stopped'),
  deleting: fc.constantFrom(false, false, false, true),
}).map((d) => ({ key: 'web', hash: fakeHash(d.spec), ...d }));

/** How an observed instance's spec relates to the desired one: mostly close to it, so updates are exercised. */
const variantArb = (desired: ServiceSpec): fc.Arbitrary<ServiceSpec> => fc.oneof(
  fc.constant(desired),
  fc.constant({ ...desired, replicas: desired.replicas + 1 }),
  fc.constantFrom('web:1', 'web:3').map((image) => ({ ...desired, image })),
  fc.constantFrom(256, 2048).map((memoryMb) => ({ ...desired, resources: { ...desired.resources, memoryMb } })),
  fc.constant({ ...desired, env: { ...desired.env, EXTRA: 'z' } }),
  fc.constant({ ...desired, run: { command: 'node other.js' } }),
  specArb,
);

const instanceArb = (index: number, desired: ServiceSpec): fc.Arbitrary<ObservedInstance> => fc.record({
  replica: fc.oneof(
    { weight: 8, arbitrary: fc.integer({ min: 0, max: Math.max(desired.replicas - 1, 0) }) },
    { weight: 2, arbitrary: fc.integer({ min: -1, max: 4 }) },
  ),
  spec: variantArb(desired),
  specKnown: fc.constantFrom(true, true, true, false),
  sameRegion: fc.constantFrom(true, true, true, true, false),
  state: fc.constantFrom('creating', 'starting', 'running', 'running', 'stopping', 'stopped', 'failed'),
  health: fc.constantFrom('unknown', 'healthy', 'unhealthy'),
}).map(({ replica, spec, specKnown, sameRegion, state, health }) => ({
  id: `obs-${index}`,
  key: 'web',
  replica,
  hash: fakeHash(spec),
  generation: 1,
  ...(specKnown ? { spec } : {}),
  region: sameRegion ? desired.region : spec.region,
  state,
  health,
}));

const observedArb = (desired: ServiceSpec): fc.Arbitrary<Observed | null> => fc.option(
  fc.integer({ min: 0, max: 4 }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => instanceArb(i, desired))))
    .map((instances) => ({ key: 'web', instances })),
  { nil: null, freq: 6 },
);

/** A world: desired (or none: an orphan), what a provider reports, its capabilities, and maybe a bad release. */
const worldArb = desiredArb.chain((desired) => fc.record({
  desired: fc.option(fc.constant(desired), { nil: null, freq: 8 }),
  observed: observedArb(desired.spec),
  caps: fc.boolean().map((updateInPlace): ProviderCapabilities => ({ updateInPlace })),
  badHashes: fc.constantFrom(undefined, undefined, undefined, new Set([desired.hash])),
}));

// Two passes at most: when a slot holds an old instance beside a new one that is
// not ready (a cutover, or duplicates after a crash), the new one is brought up
// first (pass one) and the old one retired once the new one is ready (pass two).
test('property: applying diff\'s actions converges within two passes (or the refusal is stable)', () => {
  fc.assert(fc.property(worldArb, ({ desired, observed, caps, badHashes }) => {
    const first = diff(desired, observed, caps, NOW, { badHashes });
    let after = applyActionsToObserved(observed, first, desired);
    let second = diff(desired, after, caps, NOW, { badHashes });
    if (!isNoop(second)) {
      after = applyActionsToObserved(after, second, desired);
      second = diff(desired, after, caps, NOW, { badHashes });
    }
    if (first.length === 1 && first[0]?.kind === 'error') {
      assert.deepEqual(second, first);
      return;
    }
    assert.ok(isNoop(second), `not converged: ${JSON.stringify(second.map((a) => [a.kind, a.reason]))}`);
    if (badHashes && desired && !desired.deleting) {
      assert.deepEqual(second.map((a) => a.kind === 'noop' && a.blockedBy), ['bad-release']);
    }
    // Nothing rolls toward a bad release.
    if (badHashes) {
      assert.ok(first.every((a) => a.kind !== 'create' && a.kind !== 'update' && a.kind !== 'replace'));
    }
  }), RUNS);
});

test('property: diff never throws and every action has a non-empty reason', () => {
  fc.assert(fc.property(worldArb, fc.integer(), ({ desired, observed, caps, badHashes }, now) => {
    const actions = diff(desired, observed, caps, now, { badHashes });
    assert.ok(actions.length > 0);
    for (const action of actions) assert.ok(action.reason.trim().length > 0, JSON.stringify(action));
    // Exactly one noop, or no noop at all.
    const noops = actions.filter((a) => a.kind === 'noop').length;
    assert.ok(noops === 0 || actions.length === 1);
  }), RUNS);
});

test('property: a region refusal is the only action for its key', () => {
  fc.assert(fc.property(worldArb, ({ desired, observed, caps, badHashes }) => {
    const actions = diff(desired, observed, caps, NOW, { badHashes });
    if (actions.some((a) => a.kind === 'error')) assert.equal(actions.length, 1);
  }), RUNS);
});
