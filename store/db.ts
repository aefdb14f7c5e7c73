// Opening the SQLite database: pragmas, migrations, and where the data dir lives.

import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import Database from 'better-sqlite3';
import { ForgeError } from '../errors/index.ts';
import { MIGRATIONS, type Migration } from './migrations.ts';
import { runMigrations } from './migrate.ts';
import { sqliteSql } from './sqlite-engine.ts';

export type Db = Database.Database;

/** How long a writer waits for another process's lock before SQLITE_BUSY. */
const BUSY_TIMEOUT_MS = 5_000;

/**
 * Opens (creating if needed) the database at `path` (`:memory:` allowed) and brings its schema
 * up to date. WAL lets readers (API, dashboard) run while the loop writes; synchronous=NORMAL is
 * durable across process crashes in WAL mode and only risks the last commits on power loss.
 */
export function openDatabase(path: string, migrations: readonly Migration[] = MIGRATIONS): Db {
  let db: Db;
  try {
    db = new Database(path);
  } catch (cause) {
    throw new ForgeError('E_STORE', `cannot open the Forge database at ${path}: ${(cause as Error).message}`, {
      cause,
    });
  }
  try {
    db.pragma('journal_mode = WAL');
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    db.pragma('foreign_keys = ON');
    db.pragma('synchronous = NORMAL');
    migrate(db, migrations);
  } catch (cause) {
    db.close();
    if (cause instanceof ForgeError) throw cause;
    throw new ForgeError('E_STORE', `cannot prepare the Forge database at ${path}: ${(cause as Error).message}`, {
      cause,
    });
  }
  return db;
}

/**
 * Applies every migration newer than the database's version, all in one IMMEDIATE transaction
 * so two processes starting at once cannot both apply the same step. Re-running is a no-op.
 * Returns the versions applied.
 */
export function migrate(db: Db, migrations: readonly Migration[] = MIGRATIONS): number[] {
  return runMigrations(sqliteSql(db), migrations);
}

/**
 * The data dir: FORGE_DATA_DIR or `.forge`, resolved against `cwd`. Created with mode 0700 when
 * missing, since it holds the database with encrypted secrets and key hashes. An existing dir's
 * mode is left alone: the operator chose it.
 */
export function resolveDataDir(
  env: Readonly<Record<string, string | undefined>>,
  cwd: string = process.cwd(),
): string {
  const configured = env.FORGE_DATA_DIR;
  const dir = resolve(cwd, configured !== undefined && configured !== '' ? configured : '.forge');
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (cause) {
    throw new ForgeError('E_STORE', `cannot create the data dir ${dir} (set FORGE_DATA_DIR to a writable path)`, {
      cause,
    });
  }
  return dir;
}
