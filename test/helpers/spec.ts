// Test builders for specs, desired rows and observed instances. `fakeHash` stands
// in for specs/'s canonical hash so reconciler tests do not depend on it; swap
// it for the real one once both agree on the canonical form.

import { createHash } from 'node:crypto';
import { SPEC_DEFAULTS, type HealthSpec, type ResourceSpec, type ServiceSpec } from '../../specs/types.ts';
import type { Desired, ObservedInstance } from '../../providers/types.ts';

export type SpecOverrides = Omit<Partial<ServiceSpec>, 'resources' | 'health'> & {
  resources?: Partial<ResourceSpec>;
  health?: Partial<HealthSpec>;
};

/** A complete, normalized-looking spec with SPEC_DEFAULTS; nested resources/health merge. */
export function makeSpec(overrides: SpecOverrides = {}): ServiceSpec {
  const { resources, health, ...rest } = overrides;
  return {
    name: 'web',
    provider: SPEC_DEFAULTS.provider,
    image: 'registry.example/web:1',
    port: SPEC_DEFAULTS.port,
    region: SPEC_DEFAULTS.region,
    env: {},
    secrets: [],
    replicas: SPEC_DEFAULTS.replicas,
    domains: [],
    autoStop: false,
    ...rest,
    resources: { memoryMb: SPEC_DEFAULTS.memoryMb, cpus: 1, cpuKind: 'shared', ...resources },
    health: { ...SPEC_DEFAULTS.health, ...health },
  };
}

/** A stable sha256 of the spec as sorted-key JSON (undefined dropped, arrays kept in order). */
export function fakeHash(spec: unknown): string {
  return createHash('sha256').update(sortedJson(spec)).digest('hex');
}

function sortedJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((v) => sortedJson(v ?? null)).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.keys(value)
      .sort()
      .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${sortedJson((value as Record<string, unknown>)[k])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value);
}

export function makeDesired(spec: ServiceSpec, extra: Partial<Omit<Desired, 'spec'>> = {}): Desired {
  return {
    key: spec.name,
    spec,
    hash: fakeHash(spec),
    generation: 1,
    state: 'running',
    deleting: false,
    ...extra,
  };
}

/** An instance running `spec` in `slot`, healthy unless told otherwise. */
export function makeInstance(id: string, slot: number, spec: ServiceSpec, extra: Partial<ObservedInstance> = {}): ObservedInstance {
  return {
    id,
    key: spec.name,
    replica: slot,
    hash: fakeHash(spec),
    generation: 1,
    spec,
    region: spec.region,
    state: 'running',
    health: 'healthy',
    ...extra,
  };
}
