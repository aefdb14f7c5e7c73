// Pure: the field-by-field difference between two specs, for plans and `forge
// diff`. Env values are masked: a plan says THAT a value changed, never what to.

import type { ServiceSpec } from '../specs/types.ts';

export interface FieldChange {
  path: string;
  from: unknown;
  to: unknown;
}

export const MASK = '(hidden)';

export function specChanges(before: ServiceSpec | null, after: ServiceSpec | null): FieldChange[] {
  const left = before ? flatten(before) : new Map<string, unknown>();
  const right = after ? flatten(after) : new Map<string, unknown>();
  const paths = [...new Set([...left.keys(), ...right.keys()])].sort();
  const changes: FieldChange[] = [];
  for (const path of paths) {
    const from = left.get(path);
    const to = right.get(path);
    if (JSON.stringify(from) === JSON.stringify(to)) continue;
    const masked = path.startsWith('env.');
    changes.push({
      path,
      from: masked && from !== undefined ? MASK : from,
      to: masked && to !== undefined ? MASK : to,
    });
  }
  return changes;
}

function flatten(spec: ServiceSpec): Map<string, unknown> {
  const out = new Map<string, unknown>();
  const walk = (value: unknown, path: string) => {
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      for (const [k, v] of Object.entries(value)) walk(v, path ? `${path}.${k}` : k);
    } else if (value !== undefined) {
      out.set(path, value);
    }
  };
  walk(spec, '');
  return out;
}
