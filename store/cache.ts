// A read cached until the database changes. The engine says cheaply whether anything was
// committed (Sql.writeMark: on SQLite total_changes() and PRAGMA data_version, microseconds), so
// the resync pass, which reads every service each time and usually finds nothing changed, does not
// re-read 10,000 rows to learn that. An engine that cannot tell (PostgreSQL: another replica's
// commit costs a round trip to notice) reads every time.

import type { Sql } from './sql.ts';

export function cachedUntilWrite<T extends object>(db: Sql, read: () => T[]): () => T[] {
  let cached: { mark: string; rows: readonly T[] } | null = null;
  return () => {
    // Inside a transaction the rows may yet roll back, which the write mark would not reveal.
    if (db.inTransaction) return read();
    const mark = db.writeMark();
    // Frozen like cached rows, so the contract is the same on every engine.
    if (mark === null) return read().map((r) => Object.freeze(r));
    if (cached === null || cached.mark !== mark) {
      // Frozen: every caller gets the same row objects until the next write.
      cached = { mark, rows: read().map((r) => Object.freeze(r)) };
    }
    return cached.rows.slice();
  };
}
