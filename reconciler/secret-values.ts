// Pure: how secret values take part in a desired hash, and whether an instance
// runs the values the service has now. Values never come here: only their keyed
// digest (an HMAC computed by api/secrets.ts), so nothing in the reconciler can
// reveal a value, and an unkeyed guess cannot be checked against a hash.

import { createHash } from 'node:crypto';
import { specHash } from '../specs/hash.ts';
import type { ServiceSpec } from '../specs/types.ts';

/**
 * The desired hash of `spec` when its secret values have the keyed digest `digest`:
 * the plain specHash without secrets (so files applied by watch mode and by the API
 * agree), else sha256(specHash + ':' + digest).
 */
export function hashWithSecrets(spec: ServiceSpec, digest: string): string {
  const base = specHash(spec);
  if (spec.secrets.length === 0) return base;
  return createHash('sha256').update(`${base}:${digest}`).digest('hex');
}

/**
 * Whether an instance labelled `hash` and running `spec` was started with the secret
 * values whose digest is `digest`. A spec change shows in the spec; a value change
 * only in the hash: the hash the instance's own spec would have under today's values
 * differs from its label.
 */
export function runsCurrentSecretValues(instance: { spec: ServiceSpec; hash: string }, digest: string): boolean {
  if (instance.spec.secrets.length === 0) return true;
  return hashWithSecrets(instance.spec, digest) === instance.hash;
}

/** The changed-field name diff reports for a value change: under `secrets`, never naming a value. */
export const SECRET_VALUES_CHANGED = 'secrets.values';
