// Applies the numbered migrations (migrations.ts) on either engine, in one writing transaction
// so two processes (or replicas) starting at once cannot both apply the same step.

import { ForgeError } from '../errors/index.ts';
import type { Migration } from './migrations.ts';
import { toPostgres } from './pg-dialect.ts';
import type { Sql } from './sql.ts';

/** The text of one migration for the engine at hand. */
export function migrationText(migration: Migration, dialect: Sql['dialect']): string {
  if (typeof migration !== 'string') return migration[dialect];
  return dialect === 'postgres' ? toPostgres(migration) : migration;
}

/**
 * Applies every migration newer than the database's version and returns the versions applied.
 * The version is SQLite's PRAGMA user_version, or on PostgreSQL the highest row of
 * schema_migrations (which both engines keep, with the time each step ran).
 */
export function runMigrations(sql: Sql, migrations: readonly Migration[]): number[] {
  return sql.transaction((): number[] => {
    sql.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version    INTEGER PRIMARY KEY,
      applied_at TEXT NOT NULL
    )`);
    const current = currentVersion(sql);
    if (current > migrations.length) {
      throw new ForgeError(
        'E_STORE',
        `the database schema is version ${current} but this Forge knows only ${migrations.length}: ` +
          'it was written by a newer Forge; upgrade Forge to open it',
      );
    }
    const record = sql.prepare<[number, string]>('INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)');
    const applied: number[] = [];
    for (let version = current + 1; version <= migrations.length; version++) {
      sql.exec(migrationText(migrations[version - 1] as Migration, sql.dialect));
      record.run(version, new Date().toISOString());
      applied.push(version);
    }
    if (applied.length > 0 && sql.dialect === 'sqlite') sql.exec(`PRAGMA user_version = ${migrations.length}`);
    return applied;
  });
}

function currentVersion(sql: Sql): number {
  if (sql.dialect === 'sqlite') {
    return (sql.prepare<[], { user_version: number }>('PRAGMA user_version').get() as { user_version: number }).user_version;
  }
  return (sql.prepare<[], { v: number }>('SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations').get() as { v: number }).v;
}
