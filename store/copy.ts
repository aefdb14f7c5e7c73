// Moving a store from SQLite to PostgreSQL (`forge store migrate --to postgres://…`): every row of
// every table, as stored (secrets stay sealed ciphertext: the key is not needed and never read),
// into a migrated, empty PostgreSQL database, in one transaction there.

import { existsSync } from 'node:fs';
import { ForgeError } from '../errors/index.ts';
import { openDatabase } from './db.ts';
import { runMigrations } from './migrate.ts';
import { MIGRATIONS } from './migrations.ts';
import { postgresSql, redactUrl, type PgSql } from './pg-engine.ts';
import { sqliteSql, type SqliteSql } from './sqlite-engine.ts';

/** Bookkeeping of each database itself: never copied. */
const OWN_TABLES = new Set(['schema_migrations', 'leader_term', 'state_version']);
/** Tables others reference by foreign key: copied first. */
const PARENTS = ['services', 'tasks'];

export interface CopyReport {
  tables: { name: string; rows: number }[];
}

function version(sql: SqliteSql | PgSql): number {
  const row = sql.prepare<[], { v: number }>('SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations').get();
  return row?.v ?? 0;
}

export function copySqliteToPostgres(from: SqliteSql, to: PgSql): CopyReport {
  if (version(from) !== version(to)) {
    throw new ForgeError('E_STORE', `the two schemas differ (SQLite at version ${version(from)}, PostgreSQL at ${version(to)}): open both with this Forge first`);
  }
  const names = from.prepare<[], { name: string }>(
    `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`,
  ).all().map((r) => r.name).filter((n) => !OWN_TABLES.has(n));
  const tables = [...PARENTS.filter((p) => names.includes(p)), ...names.filter((n) => !PARENTS.includes(n))];
  return to.transaction(() => {
    for (const table of tables) {
      const n = to.prepare<[], { n: number }>(`SELECT count(*) AS n FROM ${table}`).get()?.n ?? 0;
      if (n > 0) {
        throw new ForgeError('E_CONFLICT', `the PostgreSQL database already holds data (table ${table}): migrate into an empty database`);
      }
    }
    const report: CopyReport = { tables: [] };
    for (const table of tables) {
      const columns = from.prepare<[], { name: string }>(`SELECT name FROM pragma_table_info('${table}')`).all().map((c) => c.name);
      const insert = to.prepare<unknown[]>(`INSERT INTO ${table} (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`);
      let rows = 0;
      // In insertion order, so ids and the listings that break ties by insertion keep their order.
      for (const row of from.prepare<[], Record<string, unknown>>(`SELECT * FROM ${table} ORDER BY rowid`).iterate()) {
        insert.run(...columns.map((c) => row[c]));
        rows++;
      }
      report.tables.push({ name: table, rows });
    }
    // Identity columns were given explicit values: their sequences continue after the largest.
    const identities = to.prepare<[], { t: string; c: string }>(
      `SELECT table_name AS t, column_name AS c FROM information_schema.columns
       WHERE table_schema = current_schema() AND is_identity = 'YES'`,
    ).all();
    for (const { t, c } of identities) {
      to.exec(`SELECT setval(pg_get_serial_sequence('${t}', '${c}'), COALESCE((SELECT MAX(${c}) FROM ${t}), 0) + 1, false)`);
    }
    return report;
  });
}

/**
 * Copies the SQLite database at `file` into the PostgreSQL database at `url` (migrated first; it
 * must hold no rows). The SQLite file is only read. Stop `forge server` first: writes made during
 * the copy would not be in it.
 */
export function migrateSqliteToPostgres(file: string, url: string): CopyReport {
  if (!existsSync(file)) throw new ForgeError('E_USAGE', `no Forge database at ${file} (set FORGE_DATA_DIR to the data dir that holds forge.db)`);
  const from = sqliteSql(openDatabase(file));
  try {
    let to: PgSql;
    try {
      to = postgresSql(url);
    } catch (cause) {
      throw cause instanceof ForgeError ? cause : new ForgeError('E_STORE', `cannot open ${redactUrl(url)}`, { cause });
    }
    try {
      runMigrations(to, MIGRATIONS);
      return copySqliteToPostgres(from, to);
    } finally {
      to.close();
    }
  } finally {
    from.close();
  }
}
