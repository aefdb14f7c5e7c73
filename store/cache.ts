// A read cached until the database changes. SQLite tells us cheaply whether anything was
// committed: total_changes() counts this connection's writes, PRAGMA data_version moves when any
// other connection (another process too) commits. Checking both costs microseconds, so the
// resync pass, which reads every service each time and usually finds nothing changed, does not
// re-read 10,000 rows to learn that.

import type { Db } from './db.ts';

export function cachedUntilWrite<T extends object>(db: Db, read: () => T[]): () => T[] {
  const dataVersion = db.prepare('PRAGMA data_version').pluck();
  const totalChanges = db.prepare('SELECT total_changes()').pluck();
  let cached: { version: number; changes: number; rows: readonly T[] } | null = null;
  return () => {
    // Inside a transaction the rows may yet roll back, which total_changes would not reveal.
    if (db.inTransaction) return read();
    const version = dataVersion.get() as number;
    const changes = totalChanges.get() as number;
    if (cached === null || cached.version !== version || cached.changes !== changes) {
      // Frozen: every caller gets the same row objects until the next write.
      cached = { version, changes, rows: read().map((r) => Object.freeze(r)) };
    }
    return cached.rows.slice();
  };
}
