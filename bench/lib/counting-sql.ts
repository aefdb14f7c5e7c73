// An Sql that counts what the store asks of its engine: statements run and rows they returned.
// A bench wraps the real engine with it to print how many reads a no-op pass makes, which a
// timing alone does not say (a fast machine hides a full-table read).

import { createStore, databasePath, openDatabase, type Store } from '../../store/index.ts';
import { runMigrations } from '../../store/migrate.ts';
import { MIGRATIONS } from '../../store/migrations.ts';
import { isPostgresUrl, postgresSql, redactUrl } from '../../store/pg-engine.ts';
import type { Sql, Statement } from '../../store/sql.ts';
import { sqliteSql } from '../../store/sqlite-engine.ts';

export interface SqlCounts {
  statements: number;
  rows: number;
}

export function countingSql(inner: Sql): { sql: Sql; counts: SqlCounts } {
  const counts: SqlCounts = { statements: 0, rows: 0 };
  const sql: Sql = {
    get dialect() {
      return inner.dialect;
    },
    prepare<P = unknown[], R = unknown>(text: Parameters<Sql['prepare']>[0]): Statement<P, R> {
      // Loosely typed inside: the wrapper passes the arguments through as they came.
      const stmt = inner.prepare<P, R>(text) as unknown as Statement<unknown[], R>;
      type A = unknown[];
      const counted: Statement<unknown[], R> = {
        get: (...params: A) => {
          counts.statements += 1;
          const row = stmt.get(...params);
          if (row !== undefined) counts.rows += 1;
          return row;
        },
        all: (...params: A) => {
          counts.statements += 1;
          const rows = stmt.all(...params);
          counts.rows += rows.length;
          return rows;
        },
        run: (...params: A) => {
          counts.statements += 1;
          return stmt.run(...params);
        },
        iterate: (...params: A) => {
          counts.statements += 1;
          const rows = stmt.iterate(...params);
          // Row by row, as the engine hands them out: holding them all would change the RSS measured.
          return (function* () {
            for (const row of rows) {
              counts.rows += 1;
              yield row;
            }
          })();
        },
      };
      return counted as unknown as Statement<P, R>;
    },
    exec: (text) => {
      counts.statements += 1;
      inner.exec(text);
    },
    transaction: (fn) => inner.transaction(fn),
    get inTransaction() {
      return inner.inTransaction;
    },
    writeMark: () => inner.writeMark(),
    close: () => inner.close(),
    get open() {
      return inner.open;
    },
  };
  return { sql, counts };
}

/** openStore(location), with the engine wrapped in a counter. */
export function openCountedStore(location: string): { store: Store; counts: SqlCounts } {
  if (isPostgresUrl(location)) {
    const pg = postgresSql(location);
    runMigrations(pg, MIGRATIONS);
    const { sql, counts } = countingSql(pg);
    return { store: createStore(sql, redactUrl(location)), counts };
  }
  const path = databasePath(location);
  const { sql, counts } = countingSql(sqliteSql(openDatabase(path)));
  return { store: createStore(sql, path), counts };
}
