// Issue 13.20: a secret value change alters the desired hash but not the spec.
// diff must still see it (through the keyed digest on Desired) and restart the
// instances with the new values on every provider, while a replicas-only change
// stays a relabel. Digests here are opaque strings: diff never sees a value.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { diff } from '../../reconciler/diff.ts';
import { hashWithSecrets, runsCurrentSecretValues } from '../../reconciler/secret-values.ts';
import type { Action, Desired, Observed } from '../../providers/types.ts';
import { makeInstance, makeSpec } from '../helpers/spec.ts';
import { specHash } from '../../specs/hash.ts';

const NOW = 1_700_000_000_000;
const spec = makeSpec({ secrets: ['API_TOKEN'] });
const OLD = 'digest-of-old-values';
const NEW = 'digest-of-new-values';

function desiredWith(digest: string, overrides: Partial<Desired> = {}): Desired {
  const s = overrides.spec ?? spec;
  return { key: 'web', spec: s, hash: hashWithSecrets(s, digest), generation: 3, state: 'running', deleting: false, secretsDigest: digest, ...overrides };
}
const runningOld: Observed = { key: 'web', instances: [makeInstance('i0', 0, spec, { hash: hashWithSecrets(spec, OLD), generation: 2 })] };

test('a changed secret value replaces the instance on a provider without in-place update (health-gated surge)', () => {
  const desired = desiredWith(NEW);
  const expected: Action[] = [{
    kind: 'replace', key: 'web', instanceId: 'i0', replica: 0, spec, hash: desired.hash, generation: 3, changed: ['secrets.values'],
    reason: 'replica 0 secret values changed: replaced by a new instance, health-gated',
  }];
  assert.deepEqual(diff(desired, runningOld, { updateInPlace: false }, NOW), expected);
});

test('a changed secret value is a full update (a restart with the new values), never a relabel, in place', () => {
  const desired = desiredWith(NEW);
  const expected: Action[] = [{
    kind: 'update', key: 'web', instanceId: 'i0', replica: 0, spec, hash: desired.hash, generation: 3, changed: ['secrets.values'],
    reason: 'secret values changed; updating in place (restarts with the new values)',
  }];
  assert.deepEqual(diff(desired, runningOld, { updateInPlace: true }, NOW), expected);
});

test('a replicas-only change with unchanged values stays a relabel, no restart', () => {
  const two = makeSpec({ secrets: ['API_TOKEN'], replicas: 2 });
  const desired = desiredWith(OLD, { spec: two, hash: hashWithSecrets(two, OLD) });
  const actions = diff(desired, runningOld, { updateInPlace: true }, NOW);
  assert.deepEqual(actions.map((a) => [a.kind, 'changed' in a ? a.changed : undefined]), [['create', undefined], ['update', []]]);
  assert.deepEqual(diff(desired, runningOld, { updateInPlace: false }, NOW).map((a) => a.kind), ['create']);
});

test('values and replicas changed together: the running replica restarts with the new values', () => {
  const two = makeSpec({ secrets: ['API_TOKEN'], replicas: 2 });
  const desired = desiredWith(NEW, { spec: two, hash: hashWithSecrets(two, NEW) });
  assert.deepEqual(diff(desired, runningOld, { updateInPlace: false }, NOW).map((a) => [a.kind, 'changed' in a ? a.changed : undefined]),
    [['create', undefined], ['replace', ['secrets.values']]]);
});

test('an instance already on the new values is settled', () => {
  const desired = desiredWith(NEW);
  const current: Observed = { key: 'web', instances: [makeInstance('i1', 0, spec, { hash: desired.hash, generation: 3 })] };
  assert.deepEqual(diff(desired, current, { updateInPlace: false }, NOW), [{ kind: 'noop', key: 'web', reason: 'up to date' }]);
});

test('runsCurrentSecretValues: a spec without secrets always does; otherwise the label must match today\'s digest', () => {
  const plain = makeSpec();
  assert.equal(runsCurrentSecretValues({ spec: plain, hash: 'anything' }, NEW), true);
  assert.equal(runsCurrentSecretValues({ spec, hash: hashWithSecrets(spec, NEW) }, NEW), true);
  assert.equal(runsCurrentSecretValues({ spec, hash: hashWithSecrets(spec, OLD) }, NEW), false);
});

test('a desired hash without values folded in (forge dev hashes the spec alone): a replicas change stays a relabel', () => {
  const two = makeSpec({ secrets: ['API_TOKEN'], replicas: 2 });
  const desired: Desired = { key: 'web', spec: two, hash: specHash(two), generation: 2, state: 'running', deleting: false, secretsDigest: NEW };
  const devInstance: Observed = { key: 'web', instances: [makeInstance('i0', 0, spec, { hash: specHash(spec) })] };
  assert.deepEqual(diff(desired, devInstance, { updateInPlace: true }, NOW).map((a) => [a.kind, 'changed' in a ? a.changed : undefined]),
    [['create', undefined], ['update', []]]);
});
