// Desired services: the rows everything else reconciles towards.

import type { ServiceSpec } from '../specs/types.ts';
import { type Sql, transactional } from './sql.ts';
import type { DesiredRow, DesiredSummary, UpsertResult } from './types.ts';
import { cachedUntilChanged } from './cache.ts';
import { type Clock, iso, newId } from './util.ts';

export type DesiredState = 'running' | 'stopped';

export interface UpsertInput {
  name: string;
  spec: ServiceSpec;
  hash: string;
  source: string;
  /** Omitted: a new row starts running, an existing row keeps its state. */
  state?: DesiredState;
}

/** What an upsert must do, decided from the existing row's small columns alone. */
export type UpsertPlan =
  | { kind: 'insert' } // no row: generation 1
  | { kind: 'revive' } // row is being deleted: take it back, generation + 1
  | { kind: 'bump' } // spec hash changed: generation + 1
  | { kind: 'touch' } // same spec, but the source or the desired state moved: no new generation
  | { kind: 'none' }; // nothing differs: no write at all

export interface ExistingForUpsert {
  hash: string;
  source: string;
  state: DesiredState;
  deleting: boolean;
}

/** Generation counts spec changes only; it is bumped when the hash changes or a deleting row is revived. */
export function planUpsert(existing: ExistingForUpsert | undefined, input: Omit<UpsertInput, 'spec' | 'name'>): UpsertPlan {
  if (existing === undefined) return { kind: 'insert' };
  if (existing.deleting) return { kind: 'revive' };
  if (existing.hash !== input.hash) return { kind: 'bump' };
  const stateMoves = input.state !== undefined && input.state !== existing.state;
  if (stateMoves || existing.source !== input.source) return { kind: 'touch' };
  return { kind: 'none' };
}

interface ServiceRecord {
  id: string;
  name: string;
  spec: string;
  hash: string;
  generation: number;
  source: string;
  state: DesiredState;
  deleting: 0 | 1;
  created_at: string;
  updated_at: string;
}

function toRow(r: ServiceRecord): DesiredRow {
  return {
    id: r.id,
    name: r.name,
    spec: JSON.parse(r.spec) as ServiceSpec,
    hash: r.hash,
    generation: r.generation,
    source: r.source,
    state: r.state,
    deleting: r.deleting === 1,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

export function createServicesStore(db: Sql, clock: Clock) {
  const byName = db.prepare<[string], ServiceRecord>('SELECT * FROM services WHERE name = ?');
  const byId = db.prepare<[string], ServiceRecord>('SELECT * FROM services WHERE id = ?');
  const all = db.prepare<[], ServiceRecord>('SELECT * FROM services ORDER BY name');
  const bySource = db.prepare<[string], ServiceRecord>('SELECT * FROM services WHERE source = ? ORDER BY name');
  const summaryRows = db.prepare<[], Omit<DesiredSummary, 'deleting'> & { deleting: unknown }>(
    'SELECT name, hash, generation, state, deleting FROM services ORDER BY name',
  );
  function readSummaries(): DesiredSummary[] {
    const rows = summaryRows.all();
    for (const row of rows) row.deleting = row.deleting === 1;
    return rows as DesiredSummary[];
  }
  const summaries = cachedUntilChanged(db, 'services', readSummaries);

  const insert = db.prepare(
    `INSERT INTO services (id, name, spec, hash, generation, source, state, deleting, created_at, updated_at)
     VALUES (@id, @name, @spec, @hash, 1, @source, @state, 0, @now, @now)`,
  );
  const writeSpec = db.prepare(
    `UPDATE services SET spec = @spec, hash = @hash, source = @source, state = @state,
       generation = generation + 1, deleting = 0, updated_at = @now
     WHERE name = @name`,
  );
  const touch = db.prepare(
    'UPDATE services SET source = @source, state = @state, updated_at = @now WHERE name = @name',
  );
  const setState = db.prepare(
    `UPDATE services SET state = @state, updated_at = @now
     WHERE name = @name AND state <> @state AND deleting = 0`,
  );
  const markDeleting = db.prepare(
    'UPDATE services SET deleting = 1, updated_at = @now WHERE name = @name AND deleting = 0',
  );
  // Only a row still marked deleting goes: an upsert that revived it in the meantime wins.
  const remove = db.prepare('DELETE FROM services WHERE name = ? AND deleting = 1');
  // Releases belong to one incarnation of a name: a service created again later must not
  // inherit "bad release" marks or rollback targets of the one deleted here.
  const removeReleases = db.prepare('DELETE FROM releases WHERE name = ?');
  const removeWithReleases = transactional(db, (name: string): boolean => {
    if (remove.run(name).changes === 0) return false;
    removeReleases.run(name);
    return true;
  });
  // Hostname ownership: just the names, sources and `domains` of live rows (no full spec parse).
  const claims = db.prepare<[], { name: string; source: string; domains: string | null }>(
    `SELECT name, source, json_extract(spec, '$.domains') AS domains FROM services
     WHERE deleting = 0 ORDER BY created_at, name`,
  );
  const setSource = db.prepare(
    'UPDATE services SET source = @source, updated_at = @now WHERE name = @name AND source <> @source',
  );

  const upsert = transactional(db, (input: UpsertInput): UpsertResult => {
    const existing = byName.get(input.name);
    const plan = planUpsert(existing && { ...existing, deleting: existing.deleting === 1 }, input);
    const now = iso(clock());
    const state = input.state ?? existing?.state ?? 'running';
    const params = { name: input.name, spec: JSON.stringify(input.spec), hash: input.hash, source: input.source, state, now };
    switch (plan.kind) {
      case 'insert':
        insert.run({ ...params, id: newId('svc') });
        break;
      case 'revive':
      case 'bump':
        writeSpec.run(params);
        break;
      case 'touch':
        touch.run(params);
        break;
      case 'none':
        break;
    }
    const row = plan.kind === 'none' ? (existing as ServiceRecord) : (byName.get(input.name) as ServiceRecord);
    return { row: toRow(row), created: plan.kind === 'insert', changed: plan.kind !== 'none' && plan.kind !== 'touch' };
  });

  return {
    /** Writes the desired spec; see planUpsert for when the generation moves. */
    upsert: (input: UpsertInput): UpsertResult => upsert(input),
    get(name: string): DesiredRow | null {
      const r = byName.get(name);
      return r ? toRow(r) : null;
    },
    getById(id: string): DesiredRow | null {
      const r = byId.get(id);
      return r ? toRow(r) : null;
    },
    list(): DesiredRow[] {
      return all.all().map(toRow);
    },
    /** Every row, one at a time: loading 10,000 specs without holding all the raw rows at once. */
    forEach(fn: (row: DesiredRow) => void): void {
      for (const r of all.iterate()) fn(toRow(r as Parameters<typeof toRow>[0]));
    },
    listBySource(source: string): DesiredRow[] {
      return bySource.all(source).map(toRow);
    },
    /**
     * Every service's small columns, sorted by name: one query on a covering index, no spec JSON.
     * Cached until a services row changes, by any connection or replica (state_version, see
     * cache.ts), so a no-op resync pass reads one row instead of 10,000. The row objects are
     * frozen: callers share them.
     */
    summaries: (): DesiredSummary[] => summaries(),
    /** Start/stop intent. False when unchanged, missing, or being deleted. Does not move the generation. */
    setState(name: string, state: DesiredState): boolean {
      return setState.run({ name, state, now: iso(clock()) }).changes > 0;
    },
    /** Phase one of a delete. False when missing or already deleting. */
    markDeleting(name: string): boolean {
      return markDeleting.run({ name, now: iso(clock()) }).changes > 0;
    },
    /**
     * Phase two, once the provider confirms the objects are gone. Cascades to status and secrets;
     * events, releases, tasks and audit stay as history. False when the row is absent or not
     * (any longer) marked deleting.
     */
    remove(name: string): boolean {
      return removeWithReleases(name);
    },
    /**
     * The extra hostnames (`domains`) each live service claims, oldest service first. A service
     * being deleted claims nothing: its route is on its way out.
     */
    hostnameClaims(): { name: string; source: string; domains: string[] }[] {
      return claims.all().map((r) => ({ name: r.name, source: r.source, domains: r.domains === null ? [] : (JSON.parse(r.domains) as string[]) }));
    },
    /** Hands a service to another owner (e.g. adopted by a file set). False when unchanged or missing. */
    setSource(name: string, source: string): boolean {
      return setSource.run({ name, source, now: iso(clock()) }).changes > 0;
    },
  };
}

export type ServicesStore = ReturnType<typeof createServicesStore>;
