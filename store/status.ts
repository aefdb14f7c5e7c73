// Observed status per service: phase, conditions, url, last error, lifecycle snapshot.

import { ForgeError } from '../errors/index.ts';
import type { Sql } from './sql.ts';
import { cachedUntilChanged } from './cache.ts';
import type { StatusSummary } from './rows.ts';
import type { Condition, Phase, StatusRow } from './types.ts';
import { type Clock, canonicalJson, iso, parseJson } from './util.ts';

export type StatusInput = Omit<StatusRow, 'updatedAt'>;

interface StatusRecord {
  name: string;
  phase: Phase;
  observed_generation: number;
  conditions: string;
  url: string | null;
  last_error: string | null;
  lifecycle: string | null;
  updated_at: string;
}

function toRow(r: StatusRecord): StatusRow {
  return {
    name: r.name,
    phase: r.phase,
    observedGeneration: r.observed_generation,
    conditions: parseJson<Condition[]>(r.conditions),
    url: r.url,
    lastError: parseJson<StatusRow['lastError']>(r.last_error),
    lifecycle: parseJson<unknown>(r.lifecycle),
    updatedAt: r.updated_at,
  };
}

function nullableJson(value: unknown): string | null {
  return value === null || value === undefined ? null : canonicalJson(value);
}

export function createStatusStore(db: Sql, clock: Clock) {
  const one = db.prepare<[string], StatusRecord>('SELECT * FROM status WHERE name = ?');
  const all = db.prepare<[], StatusRecord>('SELECT * FROM status ORDER BY name');
  const many = db.prepare<[string], StatusRecord>({
    sqlite: 'SELECT * FROM status WHERE name IN (SELECT value FROM json_each(?)) ORDER BY name',
    postgres: 'SELECT * FROM status WHERE name IN (SELECT json_array_elements_text(CAST(? AS json))) ORDER BY name',
  });
  const summaryRows = db.prepare<[], StatusSummary>(
    'SELECT name, phase, observed_generation AS "observedGeneration" FROM status ORDER BY name',
  );
  const summaries = cachedUntilChanged(db, 'status', (): StatusSummary[] => summaryRows.all());
  // One statement decides and writes: the UPDATE's WHERE compares the serialized columns, so an
  // unchanged status costs no write and `changes` says whether anything moved.
  const put = db.prepare(
    `INSERT INTO status (name, phase, observed_generation, conditions, url, last_error, lifecycle, updated_at)
     VALUES (@name, @phase, @observedGeneration, @conditions, @url, @lastError, @lifecycle, @now)
     ON CONFLICT (name) DO UPDATE SET
       phase = excluded.phase,
       observed_generation = excluded.observed_generation,
       conditions = excluded.conditions,
       url = excluded.url,
       last_error = excluded.last_error,
       lifecycle = excluded.lifecycle,
       updated_at = excluded.updated_at
     WHERE status.phase IS NOT excluded.phase
        OR status.observed_generation IS NOT excluded.observed_generation
        OR status.conditions IS NOT excluded.conditions
        OR status.url IS NOT excluded.url
        OR status.last_error IS NOT excluded.last_error
        OR status.lifecycle IS NOT excluded.lifecycle`,
  );

  return {
    get(name: string): StatusRow | null {
      const r = one.get(name);
      return r ? toRow(r) : null;
    },
    /** Status rows for the given names (all rows when omitted), in one query, sorted by name. */
    getMany(names?: readonly string[]): StatusRow[] {
      return (names === undefined ? all.all() : many.all(JSON.stringify(names))).map(toRow);
    },
    all(): StatusRow[] {
      return all.all().map(toRow);
    },
    /** Phase and observedGeneration of every service, sorted by name; no JSON parsed; cached like services.summaries(). */
    summaries: (): StatusSummary[] => summaries(),
    /**
     * Writes the status only when a field differs from the stored one (JSON compared with sorted
     * keys); returns whether it wrote. The service row must exist (E_NOT_FOUND otherwise): status
     * belongs to a live service and is removed with it.
     */
    put(row: StatusInput): boolean {
      try {
        return (
          put.run({
            name: row.name,
            phase: row.phase,
            observedGeneration: row.observedGeneration,
            conditions: canonicalJson(row.conditions),
            url: row.url,
            lastError: nullableJson(row.lastError),
            lifecycle: nullableJson(row.lifecycle),
            now: iso(clock()),
          }).changes > 0
        );
      } catch (cause) {
        if ((cause as { code?: string }).code === 'SQLITE_CONSTRAINT_FOREIGNKEY') {
          throw new ForgeError('E_NOT_FOUND', `service ${row.name} does not exist; its status cannot be recorded`, {
            cause,
          });
        }
        throw cause;
      }
    },
  };
}

export type StatusStore = ReturnType<typeof createStatusStore>;
