// Pure: compare two ServiceSpecs field by field so diff() can say *what* changed
// (as dot paths, never values) and whether the change can be applied in place.
//
// Both sides go through one comparable form first, so a default spelled out on
// one side and omitted on the other, `undefined` vs an absent key, or the order
// of env keys, secrets and domains never look like drift. An instance's spec may
// come from an older Forge or a provider label and so may lack fields the
// current normalizer always fills in.

import { SPEC_DEFAULTS, type ServiceSpec } from '../specs/types.ts';

type Comparable = string | number | boolean | null | Comparable[] | { [key: string]: Comparable };

/**
 * Top-level fields a provider with `updateInPlace` can change on a live instance
 * keeping its id. Everything else (name, provider, runtime, build, run,
 * sourceDir, region) needs a new instance.
 */
export const IN_PLACE_FIELDS: ReadonlySet<string> = new Set([
  'image', 'port', 'resources', 'env', 'secrets', 'health', 'autoStop', 'domains',
]);

/**
 * Fields that say something about the service as a whole, not about one
 * instance: changing them must not touch existing instances.
 */
const SERVICE_LEVEL_FIELDS: ReadonlySet<string> = new Set(['replicas', 'jobs']);

/** Fields whose arrays are sets: their order carries no meaning. */
const SET_FIELDS: ReadonlySet<string> = new Set(['secrets', 'domains']);

const DEFAULT_CPUS = 1;
const DEFAULT_CPU_KIND = 'shared';

/**
 * The instance-relevant part of a spec with defaults filled in, undefined
 * dropped and set-like arrays sorted. Only for comparison: never stored or sent.
 */
export function comparableSpec(spec: Partial<ServiceSpec>): Record<string, Comparable> {
  const filled: Record<string, unknown> = {
    ...spec,
    provider: spec.provider ?? SPEC_DEFAULTS.provider,
    port: spec.port ?? SPEC_DEFAULTS.port,
    region: spec.region ?? SPEC_DEFAULTS.region,
    resources: {
      memoryMb: SPEC_DEFAULTS.memoryMb,
      cpus: DEFAULT_CPUS,
      cpuKind: DEFAULT_CPU_KIND,
      ...withoutUndefined(spec.resources),
    },
    health: { ...SPEC_DEFAULTS.health, ...withoutUndefined(spec.health) },
    env: spec.env ?? {},
    secrets: spec.secrets ?? [],
    domains: spec.domains ?? [],
    autoStop: spec.autoStop ?? false,
  };
  const out: Record<string, Comparable> = {};
  for (const key of Object.keys(filled).sort()) {
    if (SERVICE_LEVEL_FIELDS.has(key)) continue;
    const value = toComparable(filled[key], SET_FIELDS.has(key));
    if (value !== undefined) out[key] = value;
  }
  return out;
}

/**
 * Dot paths of every field that differs between `from` and `to`, sorted:
 * `image`, `resources.memoryMb`, `env.FOO`, `health.path`. Arrays are named as a
 * whole (`domains`, `build.commands`). Values never appear.
 */
export function changedFields(from: Partial<ServiceSpec>, to: Partial<ServiceSpec>): string[] {
  const paths: string[] = [];
  collectChanges(comparableSpec(from), comparableSpec(to), '', paths);
  return paths.sort();
}

/** True when every changed path lies under a field a provider can update in place. */
export function isInPlaceChange(changed: readonly string[]): boolean {
  return changed.length > 0 && changed.every((path) => IN_PLACE_FIELDS.has(topLevel(path)));
}

function topLevel(path: string): string {
  const dot = path.indexOf('.');
  return dot === -1 ? path : path.slice(0, dot);
}

function collectChanges(a: Comparable | undefined, b: Comparable | undefined, prefix: string, out: string[]): void {
  if (isRecord(a) && isRecord(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    for (const key of keys) {
      collectChanges(a[key], b[key], prefix === '' ? key : `${prefix}.${key}`, out);
    }
    return;
  }
  if (JSON.stringify(a) !== JSON.stringify(b)) out.push(prefix === '' ? 'spec' : prefix);
}

function isRecord(value: Comparable | undefined): value is { [key: string]: Comparable } {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function withoutUndefined<T extends object>(value: T | undefined): Partial<T> {
  if (value === undefined || value === null) return {};
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Sorted keys, no undefined, set-like string arrays sorted; unknown kinds become null. */
function toComparable(value: unknown, sortArray = false): Comparable | undefined {
  if (value === undefined) return undefined;
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (Array.isArray(value)) {
    const items = value.map((item) => toComparable(item) ?? null);
    return sortArray ? items.sort(compareComparable) : items;
  }
  if (typeof value === 'object') {
    const out: Record<string, Comparable> = {};
    for (const key of Object.keys(value).sort()) {
      const item = toComparable((value as Record<string, unknown>)[key]);
      if (item !== undefined) out[key] = item;
    }
    return out;
  }
  return null;
}

function compareComparable(a: Comparable, b: Comparable): number {
  const x = JSON.stringify(a);
  const y = JSON.stringify(b);
  return x < y ? -1 : x > y ? 1 : 0;
}
