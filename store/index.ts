// The store: one SQLite database, one sub-store per table group. The only room that writes SQL.

import { mkdirSync, statSync } from 'node:fs';
import { ForgeError } from '../errors/index.ts';
import { extname, join } from 'node:path';
import { createAgentsStore } from './agents.ts';
import { createApiKeysStore } from './apikeys.ts';
import { createAuditStore } from './audit.ts';
import { type Db, openDatabase } from './db.ts';
import { MIGRATIONS } from './migrations.ts';
import { runMigrations } from './migrate.ts';
import { isPostgresUrl, type PgSql, postgresSql, redactUrl } from './pg-engine.ts';
import type { Sql } from './sql.ts';
import { sqliteSql } from './sqlite-engine.ts';
import { createDeploymentsStore } from './deployments.ts';
import { DEFAULT_EVENT_RETENTION, createEventsStore } from './events.ts';
import { createLogsStore, type LogWindow } from './logs.ts';
import { createReleasesStore } from './releases.ts';
import { createReleaseCommandsStore } from './release-commands.ts';
import { createRevisionRefs } from './bundle-refs.ts';
import { createSecretsStore } from './secrets.ts';
import { createRegistriesStore } from './registries.ts';
import { createServicesStore } from './services.ts';
import { createStatusStore } from './status.ts';
import { DEFAULT_TASK_LOG_RETENTION, createTasksStore } from './tasks.ts';
import { createJobsStore } from './jobs.ts';
import type { Clock } from './util.ts';

export { openDatabase, resolveDataDir, migrate } from './db.ts';
export type { Db } from './db.ts';
export type { Sql, Dialect } from './sql.ts';
export { isPostgresUrl } from './pg-engine.ts';
export { planUpsert } from './services.ts';
export type { Clock } from './util.ts';
export type * from './types.ts';
export type * from './rows.ts';
export type { UpsertInput, UpsertPlan, DesiredState } from './services.ts';
export type { StatusInput } from './status.ts';
export type { EventInput, EventListOptions } from './events.ts';
export type { ReleaseInput } from './releases.ts';
export type { ReleaseCommandRow, ReleaseCommandState, ReleaseCommandFinish } from './release-commands.ts';
export type { SecretInput } from './secrets.ts';
export type { EnqueueInput } from './tasks.ts';
export type { RegisterInput, HeartbeatInput } from './agents.ts';
export type { AuditInput } from './audit.ts';
export type { DeploymentInput } from './deployments.ts';
export type { ApiKeyInput } from './apikeys.ts';
export type { JobRunRow, JobRunState, CommitInput, TickWrite } from './jobs.ts';
export { jobInstanceId } from './jobs.ts';
export type { LogLineInput, LogLineRow, LogQuery, LogStream, LogWindow } from './logs.ts';

/** The database file's name inside a data dir. */
export const DATABASE_FILE = 'forge.db';

export interface StoreOptions {
  /** Epoch ms for timestamps; tests pin it. Lease and heartbeat calls take `now` explicitly. */
  clock?: Clock;
  /** Events kept per service (newest); default 200. */
  eventRetention?: number;
  /** Log lines kept per task (newest); default 2000. */
  taskLogRetention?: number;
  /** Bounds of the shipped app and build output (store/logs.ts). */
  logWindow?: LogWindow;
}

export interface Store {
  /** Where the database lives (`:memory:` for an in-memory store; a PostgreSQL URL without its password). */
  readonly path: string;
  /** Which engine holds it. */
  readonly dialect: Sql['dialect'];
  readonly services: ReturnType<typeof createServicesStore>;
  readonly status: ReturnType<typeof createStatusStore>;
  readonly events: ReturnType<typeof createEventsStore>;
  readonly releases: ReturnType<typeof createReleasesStore>;
  /** Release command runs (exactly once per release: see release-commands.ts). */
  readonly releaseCommands: ReturnType<typeof createReleaseCommandsStore>;
  readonly secrets: ReturnType<typeof createSecretsStore>;
  /** Image registry credentials per host (ciphertext only). */
  readonly registries: ReturnType<typeof createRegistriesStore>;
  readonly tasks: ReturnType<typeof createTasksStore>;
  readonly agents: ReturnType<typeof createAgentsStore>;
  readonly audit: ReturnType<typeof createAuditStore>;
  readonly deployments: ReturnType<typeof createDeploymentsStore>;
  readonly apiKeys: ReturnType<typeof createApiKeysStore>;
  /** Source revisions still named by a service or release (bundle retention). */
  readonly revisions: ReturnType<typeof createRevisionRefs>;
  readonly logs: ReturnType<typeof createLogsStore>;
  /** Cron job cursors and runs. */
  readonly jobs: ReturnType<typeof createJobsStore>;
  /**
   * Runs `fn` in one IMMEDIATE transaction (nested calls become savepoints): all its writes
   * land together or not at all. `fn` must be synchronous; a thrown error rolls back.
   */
  transaction<T>(fn: () => T): T;
  /**
   * PostgreSQL with several replicas: from now on every write checks that the leader term is still
   * `term`, and is refused (E_FENCED) once another replica was elected; null stops checking.
   * A no-op on SQLite (one process owns the file).
   */
  fence(term: number | null): void;
  /** Writes the fence refused since the store opened (a deposed leader's); always 0 on SQLite. */
  fencedWrites(): number;
  close(): void;
}

/**
 * Where the database file is for `pathOrDir`: `:memory:` as is; a path ending in .db, .sqlite or
 * .sqlite3 that is not a directory is the file itself; anything else is a data dir (created with
 * mode 0700) holding forge.db.
 */
export function databasePath(pathOrDir: string): string {
  if (pathOrDir === ':memory:') return pathOrDir;
  const isDir = statSync(pathOrDir, { throwIfNoEntry: false })?.isDirectory() ?? false;
  if (!isDir && ['.db', '.sqlite', '.sqlite3'].includes(extname(pathOrDir))) return pathOrDir;
  mkdirSync(pathOrDir, { recursive: true, mode: 0o700 });
  return join(pathOrDir, DATABASE_FILE);
}

/**
 * Opens the store at `pathOrDir`: a `postgres://` or `postgresql://` URL selects PostgreSQL (see
 * storeLocation for FORGE_DATABASE_URL); anything else is SQLite (see databasePath).
 */
export function openStore(pathOrDir: string, options: StoreOptions = {}): Store {
  if (isPostgresUrl(pathOrDir)) return openPostgresStore(pathOrDir, options);
  const path = databasePath(pathOrDir);
  return createStore(openDatabase(path), path, options);
}

function openPostgresStore(url: string, options: StoreOptions): Store {
  const sql = postgresSql(url);
  try {
    runMigrations(sql, MIGRATIONS);
  } catch (cause) {
    sql.close();
    if (cause instanceof ForgeError) throw cause;
    throw new ForgeError('E_STORE', `cannot prepare the Forge database at ${redactUrl(url)}: ${(cause as Error).message}`, { cause });
  }
  return createStore(sql, redactUrl(url), options);
}

/** Where the store is: FORGE_DATABASE_URL (PostgreSQL) when set, else the data dir (SQLite). */
export function storeLocation(env: Readonly<Record<string, string | undefined>>, dataDir: string): string {
  const url = env.FORGE_DATABASE_URL?.trim();
  if (url === undefined || url === '') return dataDir;
  if (!isPostgresUrl(url)) {
    throw new ForgeError('E_USAGE', 'FORGE_DATABASE_URL must be a postgres:// or postgresql:// URL');
  }
  return url;
}

/** Builds the sub-stores over an open, migrated database (see openDatabase). */
export function createStore(database: Db | Sql, path: string, options: StoreOptions = {}): Store {
  const clock = options.clock ?? Date.now;
  const db: Sql = 'dialect' in database ? database : sqliteSql(database);
  const pg = db.dialect === 'postgres' ? db as PgSql : null;
  // A fenced leader stamps its tasks with its own term (not re-read at insert), so a write of a
  // deposed leader would show its old term: what the fencing tests count.
  const tasks = createTasksStore(db, clock, options.taskLogRetention ?? DEFAULT_TASK_LOG_RETENTION, () => pg?.fenceTerm ?? null);
  return {
    path,
    dialect: db.dialect,
    services: createServicesStore(db, clock),
    status: createStatusStore(db, clock),
    events: createEventsStore(db, clock, options.eventRetention ?? DEFAULT_EVENT_RETENTION),
    releases: createReleasesStore(db, clock),
    releaseCommands: createReleaseCommandsStore(db, clock),
    secrets: createSecretsStore(db, clock),
    registries: createRegistriesStore(db, clock),
    tasks,
    agents: createAgentsStore(db, clock),
    audit: createAuditStore(db, clock),
    deployments: createDeploymentsStore(db, clock),
    apiKeys: createApiKeysStore(db, clock),
    revisions: createRevisionRefs(db),
    logs: createLogsStore(db, clock, options.logWindow),
    jobs: createJobsStore(db, clock, tasks),
    transaction<T>(fn: () => T): T {
      return db.transaction(fn);
    },
    fence(term: number | null): void {
      pg?.fence(term);
    },
    fencedWrites: () => pg?.fencedWrites ?? 0,
    close(): void {
      if (db.open) db.close();
    },
  };
}
