// Rollback makes an earlier release desired again. It is recorded as a new
// generation (the audit trail stays linear) and the loop then does the cutover
// like for any other change: health-gated, old release serving until then.

import { ForgeError } from '../errors/index.ts';
import { specHash } from '../specs/hash.ts';
import type { ServiceSpec } from '../specs/types.ts';
import type { Store } from '../store/index.ts';

export interface RollbackResult {
  name: string;
  /** The release whose spec is desired again. */
  toGeneration: number;
  /** The new generation that carries it. */
  generation: number;
}

export function rollback(
  store: Store,
  name: string,
  options: { to?: number; actor?: string; hashOf?: (spec: ServiceSpec) => string } = {},
): RollbackResult {
  const row = store.services.get(name);
  if (!row || row.deleting) throw new ForgeError('E_NOT_FOUND', `service ${name} does not exist`);
  const releases = store.releases.list(name);
  const target = options.to === undefined
    ? releases.find((r) => r.outcome === 'succeeded' && r.generation < row.generation && r.hash !== row.hash)
    : releases.find((r) => r.generation === options.to);
  if (!target) {
    throw new ForgeError(options.to === undefined ? 'E_CONFLICT' : 'E_NOT_FOUND', options.to === undefined
      ? `${name} has no earlier release that succeeded; see its releases with forge get ${name}`
      : `${name} has no release ${options.to}`);
  }
  if (target.generation === row.generation) {
    throw new ForgeError('E_CONFLICT', `release ${target.generation} of ${name} is already the desired one`);
  }
  const hash = (options.hashOf ?? specHash)(target.spec);
  const result = store.transaction(() => {
    const upsert = store.services.upsert({ name, spec: target.spec, hash, source: row.source, state: row.state });
    store.audit.append({
      actor: options.actor ?? 'cli', action: 'rollback', target: name,
      details: { from: row.generation, to: target.generation, generation: upsert.row.generation },
    });
    store.events.append(name, {
      type: 'Normal', reason: 'Rollback',
      message: `rolling back to release ${target.generation} as generation ${upsert.row.generation}`,
    });
    return upsert;
  });
  return { name, toGeneration: target.generation, generation: result.row.generation };
}
