// A read cached until its table changes. The resync pass reads every service's summary each time
// and usually finds nothing changed; re-reading 10,000 rows to learn that costs milliseconds on
// SQLite and far more on PostgreSQL, where the rows cross a socket and a thread.
//
// What tells a change: the state_version row (migration 14), whose per-table counter is bumped in
// the same transaction as every row change of that table, by a trigger, whoever wrote it (this
// process, another replica, a person with psql). One row read replaces the table read. The counter
// is read BEFORE the rows: a commit landing between the two makes the cache hold newer rows under
// an older counter, which only costs one more read next time, never a stale answer.
//
// SQLite can say even more cheaply that nothing at all was committed (Sql.writeMark: two integer
// pragmas); then not even the counter is read.

import type { Sql } from './sql.ts';

/** The tables state_version counts (one column each). */
export type VersionedTable = 'services' | 'status';

export function cachedUntilChanged<T extends object>(db: Sql, table: VersionedTable, read: () => T[]): () => T[] {
  const versionOf = db.prepare<[], { v: number }>(`SELECT ${table} AS v FROM state_version WHERE id = 1`);
  let cached: { mark: string | null; version: number; rows: readonly T[] } | null = null;
  return () => {
    // Inside a transaction the rows may yet roll back, which the counter would not reveal.
    if (db.inTransaction) return read().map((r) => Object.freeze(r));
    const mark = db.writeMark();
    if (cached !== null && mark !== null && cached.mark === mark) return cached.rows.slice();
    const version = versionOf.get()?.v ?? -1;
    if (cached === null || cached.version !== version || version === -1) {
      // Frozen: every caller gets the same row objects until the table changes.
      cached = { mark, version, rows: read().map((r) => Object.freeze(r)) };
    } else {
      cached.mark = mark;
    }
    return cached.rows.slice();
  };
}
