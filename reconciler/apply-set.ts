// Apply sets: write the desired rows of one source (a file set, the API, a git
// repo@branch) in one transaction. With prune, services owned by that source and
// missing from the set are deleted; services owned by other sources are never
// touched. A dry run returns the same plan and writes nothing. The audit row (actor:
// the caller, default the source) is written in the same transaction.

import { ForgeError } from '../specs/errors.ts';
import type { ServiceSpec } from '../specs/types.ts';
import type { Store } from '../store/index.ts';
import { specChanges, type FieldChange } from './spec-changes.ts';

export interface SpecWithHash {
  spec: ServiceSpec;
  hash: string;
}

export interface PlanEntry {
  name: string;
  op: 'create' | 'update' | 'delete' | 'unchanged';
  changes: FieldChange[];
}

export interface ApplyPlan {
  source: string;
  dryRun: boolean;
  entries: PlanEntry[];
  /** Keys whose desired state changed: the loop is nudged with these. */
  changed: string[];
}

export function applySet(
  store: Store,
  source: string,
  specs: readonly SpecWithHash[],
  options: { prune?: boolean; dryRun?: boolean; actor?: string } = {},
): ApplyPlan {
  const seen = new Set<string>();
  for (const { spec } of specs) {
    if (seen.has(spec.name)) throw new ForgeError('E_SPEC_INVALID', `service ${spec.name} appears twice in one apply`);
    seen.add(spec.name);
  }
  const conflicts = specs
    .map(({ spec }) => store.services.get(spec.name))
    .filter((row) => row && !row.deleting && row.source !== source)
    .map((row) => `${row!.name} (owned by ${row!.source})`);
  if (conflicts.length > 0) {
    throw new ForgeError('E_CONFLICT',
      `these services belong to another source and were not changed: ${conflicts.join(', ')}; delete them there first, or apply from that source`,
      { details: { conflicts } });
  }

  const entries: PlanEntry[] = [];
  for (const { spec, hash } of [...specs].sort((a, b) => a.spec.name.localeCompare(b.spec.name))) {
    const row = store.services.get(spec.name);
    if (!row || row.deleting) entries.push({ name: spec.name, op: 'create', changes: specChanges(null, spec) });
    else if (row.hash !== hash) entries.push({ name: spec.name, op: 'update', changes: specChanges(row.spec, spec) });
    else entries.push({ name: spec.name, op: 'unchanged', changes: [] });
  }
  if (options.prune) {
    for (const row of store.services.listBySource(source)) {
      if (!seen.has(row.name) && !row.deleting) entries.push({ name: row.name, op: 'delete', changes: specChanges(row.spec, null) });
    }
  }
  const changed = entries.filter((e) => e.op !== 'unchanged').map((e) => e.name);
  const plan: ApplyPlan = { source, dryRun: options.dryRun ?? false, entries, changed };
  if (options.dryRun) return plan;

  const bySpec = new Map(specs.map((s) => [s.spec.name, s] as const));
  store.transaction(() => {
    for (const entry of entries) {
      if (entry.op === 'delete') store.services.markDeleting(entry.name);
      else if (entry.op !== 'unchanged') {
        const item = bySpec.get(entry.name)!;
        store.services.upsert({ name: entry.name, spec: item.spec, hash: item.hash, source });
      }
    }
    // The one audit row of this apply, written with the rows it describes: both or neither.
    store.audit.append({ actor: options.actor ?? source, action: 'apply', target: source, details: { changed, prune: options.prune ?? false } });
  });
  return plan;
}
