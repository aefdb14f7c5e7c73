// A real store in a fresh place, with a clock the test moves by hand, on either engine: SQLite
// (a temp dir) or PostgreSQL (a fresh database in a throwaway cluster started once per test file).

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe } from 'node:test';
import type { ServiceSpec } from '../../specs/types.ts';
import { openDatabase } from '../../store/db.ts';
import { createStore, openStore, type Store, type StoreOptions } from '../../store/index.ts';
import { postgresSql } from '../../store/pg-engine.ts';
import type { Dialect, Sql } from '../../store/sql.ts';
import { sqliteSql } from '../../store/sqlite-engine.ts';
import { type PgCluster, postgresSkipReason, startPgCluster } from './pg-cluster.ts';

export interface TempStore {
  store: Store;
  dialect: Dialect;
  /** A second connection to the same database, for looking under the hood. */
  sql: Sql;
  /** Where the store is: a database file, or a PostgreSQL URL (what openStore takes). */
  file: string;
  /** A temp dir the test may use for its own files. */
  dir: string;
  clock: { now: number };
  /**
   * A mark that moves when the store rewrote a row: SQLite's total_changes() on the store's own
   * connection; on PostgreSQL the row versions (xmin) of the tables a no-op must not touch.
   */
  writes(): string;
  cleanup(): void;
}

export const T0 = Date.UTC(2025, 0, 1, 12, 0, 0);

export interface TestEngine {
  name: Dialect;
  tempStore(options?: Omit<StoreOptions, 'clock'>): TempStore;
  /** Releases what the engine holds across tests (the PostgreSQL admin connection). */
  close?(): void;
}

const sqliteEngine: TestEngine = {
  name: 'sqlite',
  tempStore(options = {}) {
    const dir = mkdtempSync(join(tmpdir(), 'forge-store-'));
    const file = join(dir, 'forge.db');
    const clock = { now: T0 };
    const storeDb = openDatabase(file);
    const store = createStore(storeDb, file, { ...options, clock: () => clock.now });
    const sql = sqliteSql(openDatabase(file));
    return {
      store, dialect: 'sqlite', sql, file, dir, clock,
      writes: () => String(storeDb.prepare('SELECT total_changes()').pluck().get()),
      cleanup() {
        store.close();
        sql.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
};

const NO_OP_TABLES = ['services', 'status', 'secrets', 'releases', 'events'];

function postgresEngine(cluster: () => PgCluster): TestEngine {
  let admin: Sql | null = null;
  let databases = 0;
  return {
    name: 'postgres',
    tempStore(options = {}) {
      admin ??= postgresSql(cluster().adminUrl);
      const name = `forge_test_${process.pid}_${++databases}`;
      admin.exec(`CREATE DATABASE ${name}`);
      const url = cluster().urlFor(name);
      const dir = mkdtempSync(join(tmpdir(), 'forge-store-'));
      const clock = { now: T0 };
      const store = openStore(url, { ...options, clock: () => clock.now });
      const sql = postgresSql(url);
      const versions = sql.prepare<[], { v: string | null }>(
        `SELECT concat_ws('|', ${NO_OP_TABLES.map((t) => `(SELECT string_agg(xmin::text, ',' ORDER BY ctid) FROM ${t})`).join(', ')}) AS v`,
      );
      return {
        store, dialect: 'postgres', sql, file: url, dir, clock,
        writes: () => String(versions.get()?.v),
        cleanup() {
          store.close();
          sql.close();
          admin?.exec(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
    close: () => admin?.close(),
  };
}

/**
 * Declares `body` once per engine, each in its own suite; the PostgreSQL suite that starts
 * one throwaway cluster for the file (skipped, with the reason, when PostgreSQL is not installed).
 */
export function forEachEngine(body: (engine: TestEngine) => void): void {
  describe('on SQLite', () => body(sqliteEngine));
  const skip = postgresSkipReason();
  describe('on PostgreSQL', skip === undefined ? {} : { skip }, () => {
    let cluster: PgCluster | null = null;
    const engine = postgresEngine(() => cluster as PgCluster);
    before(async () => {
      cluster = await startPgCluster();
    });
    after(async () => {
      engine.close?.();
      await cluster?.stop();
    });
    body(engine);
  });
}

/** The first column of the first row. */
export function scalar(sql: Sql, text: string): unknown {
  const row = sql.prepare<[], Record<string, unknown>>(text).get();
  return row === undefined ? undefined : Object.values(row)[0];
}

/** The first column of every row. */
export function column(sql: Sql, text: string): unknown[] {
  return sql.prepare<[], Record<string, unknown>>(text).all().map((row) => Object.values(row)[0]);
}

export function spec(name: string, overrides: Partial<ServiceSpec> = {}): ServiceSpec {
  return {
    name,
    provider: 'agent',
    image: 'nginx:1.27',
    port: 8080,
    resources: { memoryMb: 256, cpus: 1, cpuKind: 'shared' },
    region: 'iad',
    env: {},
    secrets: [],
    replicas: 1,
    domains: [],
    autoStop: false,
    health: { type: 'http', path: '/health', intervalMs: 10_000, timeoutMs: 3_000, retries: 3 },
    ...overrides,
  };
}

/** A SQLite store in a fresh temp dir (for suites outside test/store that need one store). */
export function tempStore(options: Omit<StoreOptions, 'clock'> = {}): TempStore {
  return sqliteEngine.tempStore(options);
}
