// Releases: every generation that was rolled out, with its spec and outcome, for rollback.

import type { ServiceSpec } from '../specs/types.ts';
import { type Sql, transactional } from './sql.ts';
import type { ReleaseRow } from './types.ts';
import { type Clock, iso } from './util.ts';

export interface ReleaseInput {
  name: string;
  generation: number;
  hash: string;
  spec: ServiceSpec;
  revision: string | null;
}

interface ReleaseRecord {
  name: string;
  generation: number;
  hash: string;
  spec: string;
  revision: string | null;
  created_at: string;
  outcome: ReleaseRow['outcome'];
  reason: string | null;
}

function toRow(r: ReleaseRecord): ReleaseRow {
  return {
    name: r.name,
    generation: r.generation,
    hash: r.hash,
    spec: JSON.parse(r.spec) as ServiceSpec,
    revision: r.revision,
    createdAt: r.created_at,
    outcome: r.outcome,
    reason: r.reason,
  };
}

export function createReleasesStore(db: Sql, clock: Clock) {
  // Same (name, generation, hash) again: nothing happens. A different hash under the same key can
  // only come from a service deleted and created anew (its generation restarts at 1): the new
  // incarnation's release replaces the old one.
  const record = db.prepare(
    `INSERT INTO releases (name, generation, hash, spec, revision, created_at, outcome, reason)
     VALUES (@name, @generation, @hash, @spec, @revision, @now, 'pending', NULL)
     ON CONFLICT (name, generation) DO UPDATE SET
       hash = excluded.hash, spec = excluded.spec, revision = excluded.revision,
       created_at = excluded.created_at, outcome = 'pending', reason = NULL
     WHERE releases.hash <> excluded.hash`,
  );
  const one = db.prepare<[string, number], ReleaseRecord>('SELECT * FROM releases WHERE name = ? AND generation = ?');
  const list = db.prepare<[string], ReleaseRecord>('SELECT * FROM releases WHERE name = ? ORDER BY generation DESC');
  const latestSucceeded = db.prepare<[string], ReleaseRecord>(
    `SELECT * FROM releases WHERE name = ? AND outcome = 'succeeded' ORDER BY generation DESC LIMIT 1`,
  );
  const names = db.prepare<[], { name: string }>('SELECT DISTINCT name FROM releases ORDER BY name');
  const removeOne = db.prepare('DELETE FROM releases WHERE name = ? AND generation = ?');
  const removeMany = transactional(db, (name: string, generations: readonly number[]) => {
    let removed = 0;
    for (const generation of generations) removed += removeOne.run(name, generation).changes;
    return removed;
  });
  const setSpec = db.prepare('UPDATE releases SET spec = @spec WHERE name = @name AND generation = @generation AND hash = @hash');
  const setOutcome = db.prepare(
    'UPDATE releases SET outcome = @outcome, reason = @reason WHERE name = @name AND generation = @generation',
  );
  const isBad = db.prepare<{ name: string; hash: string }, { bad: 0 | 1 }>(
    `SELECT EXISTS (
       SELECT 1 FROM releases f
       WHERE f.name = @name AND f.hash = @hash AND f.outcome = 'failed'
         AND NOT EXISTS (SELECT 1 FROM releases s
                         WHERE s.name = f.name AND s.hash = f.hash AND s.outcome = 'succeeded'
                           AND s.generation > f.generation)
     ) AS bad`,
  );

  return {
    /** Idempotent per (name, generation); returns the stored release. */
    record(input: ReleaseInput): ReleaseRow {
      record.run({ ...input, spec: JSON.stringify(input.spec), now: iso(clock()) });
      return toRow(one.get(input.name, input.generation) as ReleaseRecord);
    },
    /**
     * Records the image digest an agent resolved and ran for a release whose spec named only a
     * tag (spec.revision unset): the release then pins it, so its rollback and its later
     * instances run those bytes. A release that pins a digest already is left alone. True when recorded.
     */
    recordImageDigest(name: string, generation: number, hash: string, digest: string): boolean {
      const current = one.get(name, generation);
      if (current === undefined || current.hash !== hash) return false;
      const spec = JSON.parse(current.spec) as ServiceSpec;
      if (spec.image === undefined || spec.revision !== undefined) return false;
      return setSpec.run({ name, generation, hash, spec: JSON.stringify({ ...spec, revision: digest }) }).changes > 0;
    },
    /** False when no such release. */
    setOutcome(name: string, generation: number, outcome: ReleaseRow['outcome'], reason: string | null = null): boolean {
      return setOutcome.run({ name, generation, outcome, reason }).changes > 0;
    },
    /** Newest generation first. */
    list(name: string): ReleaseRow[] {
      return list.all(name).map(toRow);
    },
    /** Every service name that has releases (also names whose service is gone). */
    names(): string[] {
      return names.all().map((r) => r.name);
    },
    /** Deletes these releases of `name` (retention); returns how many went. */
    remove(name: string, generations: readonly number[]): number {
      return generations.length === 0 ? 0 : removeMany(name, generations);
    },
    get(name: string, generation: number): ReleaseRow | null {
      const r = one.get(name, generation);
      return r ? toRow(r) : null;
    },
    latestSucceeded(name: string): ReleaseRow | null {
      const r = latestSucceeded.get(name);
      return r ? toRow(r) : null;
    },
    /**
     * True when a release of this spec hash failed and no later release of the same hash
     * succeeded: rolling out that spec again would repeat a known failure.
     */
    isBad(name: string, hash: string): boolean {
      return (isBad.get({ name, hash }) as { bad: 0 | 1 }).bad === 1;
    },
  };
}

export type ReleasesStore = ReturnType<typeof createReleasesStore>;
