// Apply sets: write the desired rows of one source (a file set, the API, a git
// repo@branch) in one transaction. With prune, services owned by that source and
// missing from the set are deleted; services owned by other sources are never
// touched. A dry run returns the same plan and writes nothing. The audit row (actor:
// the caller, default the source) is written in the same transaction.

import { ForgeError } from '../errors/index.ts';
import type { ServiceSpec } from '../specs/types.ts';
import type { Store } from '../store/index.ts';
import { specChanges, type FieldChange } from '../reconciler/spec-changes.ts';

export interface SpecWithHash {
  spec: ServiceSpec;
  hash: string;
  /**
   * Secret names in `spec` that the set itself does not list: values set through the API
   * (`forge secrets set`, `--env-set`) own their names until unset, so an apply keeps them.
   */
  keptSecrets?: readonly string[];
}

export interface PlanEntry {
  name: string;
  op: 'create' | 'update' | 'delete' | 'unchanged';
  changes: FieldChange[];
  /** What happens to secrets, in words and by name (never a value); absent when nothing does. */
  notes?: string[];
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
  for (const { spec, hash, keptSecrets = [] } of [...specs].sort((a, b) => a.spec.name.localeCompare(b.spec.name))) {
    const row = store.services.get(spec.name);
    const live = row && !row.deleting ? row : null;
    const op = !live ? 'create' : live.hash !== hash ? 'update' : 'unchanged';
    const notes = secretNotes(spec.name, live?.spec.secrets ?? [], spec.secrets, keptSecrets, live ? store.secrets.keys(spec.name) : []);
    entries.push({ name: spec.name, op, changes: op === 'unchanged' ? [] : specChanges(live?.spec ?? null, spec), ...(notes.length > 0 ? { notes } : {}) });
  }
  if (options.prune) {
    for (const row of store.services.listBySource(source)) {
      if (seen.has(row.name) || row.deleting) continue;
      const notes = store.secrets.keys(row.name).map((key) => `deletes the stored value of secret ${key}`);
      entries.push({ name: row.name, op: 'delete', changes: specChanges(row.spec, null), ...(notes.length > 0 ? { notes } : {}) });
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

/**
 * The plan's words about secrets of one service: names kept because the API set
 * them, and names this apply removes (saying whether a value was stored for them).
 */
function secretNotes(
  name: string, before: readonly string[], after: readonly string[], kept: readonly string[], stored: readonly string[],
): string[] {
  const notes = kept.map((key) =>
    `secret ${key}: set through the API, kept (not listed in the file; \`forge secrets unset ${name} ${key}\` removes it)`);
  const now = new Set(after);
  const has = new Set(stored);
  for (const key of before) {
    if (now.has(key)) continue;
    notes.push(has.has(key)
      ? `removes secret ${key} from the spec (its stored value stays until \`forge secrets unset ${name} ${key}\`)`
      : `removes secret ${key} from the environment (no value was stored)`);
  }
  return notes;
}
