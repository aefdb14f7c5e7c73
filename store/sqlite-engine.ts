// The Sql interface over one better-sqlite3 connection (the default engine: one machine, no
// server to run).

import type Database from 'better-sqlite3';
import { type Sql, type SqlText, type Statement, textFor } from './sql.ts';

export interface SqliteSql extends Sql {
  readonly dialect: 'sqlite';
  /** The connection itself, for what only SQLite has (pragmas, migrations' user_version). */
  readonly db: Database.Database;
}

export function sqliteSql(db: Database.Database): SqliteSql {
  // SQLite says cheaply whether anything was committed: total_changes() counts this
  // connection's writes, PRAGMA data_version moves when another connection commits.
  const dataVersion = db.prepare('PRAGMA data_version').pluck();
  const totalChanges = db.prepare('SELECT total_changes()').pluck();
  return {
    dialect: 'sqlite',
    db,
    prepare<P = unknown[], R = unknown>(text: SqlText): Statement<P, R> {
      const stmt = db.prepare(textFor(text, 'sqlite'));
      return {
        get: (...params) => stmt.get(...(params as unknown[])) as R | undefined,
        all: (...params) => stmt.all(...(params as unknown[])) as R[],
        run: (...params) => ({ changes: stmt.run(...(params as unknown[])).changes }),
        iterate: (...params) => stmt.iterate(...(params as unknown[])) as IterableIterator<R>,
      };
    },
    exec(text: string): void {
      db.exec(text);
    },
    transaction<T>(fn: () => T): T {
      return db.transaction(fn).immediate();
    },
    get inTransaction() {
      return db.inTransaction;
    },
    writeMark(): string {
      return `${dataVersion.get() as number}:${totalChanges.get() as number}`;
    },
    close(): void {
      if (db.open) db.close();
    },
    get open() {
      return db.open;
    },
  };
}
