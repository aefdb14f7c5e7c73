// The content hash of a normalized spec. The store bumps a service's generation
// only when this changes, so it must depend on meaning, not on spelling: the
// spec is normalized first (defaults, units, sorted lists) and object keys are
// sorted here.

import { createHash } from 'node:crypto';
import type { ServiceSpec } from './types.ts';

/** JSON with object keys sorted at every level and undefined members dropped. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((item) => canonicalJson(item === undefined ? null : item)).join(',')}]`;
  const entries = Object.keys(value)
    .sort()
    .filter((key) => (value as Record<string, unknown>)[key] !== undefined)
    .map((key) => `${JSON.stringify(key)}:${canonicalJson((value as Record<string, unknown>)[key])}`);
  return `{${entries.join(',')}}`;
}

/** sha256 hex of the spec's canonical JSON. */
export function specHash(spec: ServiceSpec): string {
  return createHash('sha256').update(canonicalJson(spec)).digest('hex');
}
