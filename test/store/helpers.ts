// A real SQLite store in a fresh temp dir, with a clock the test moves by hand.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ServiceSpec } from '../../specs/types.ts';
import { openDatabase, type Db } from '../../store/db.ts';
import { createStore, type Store, type StoreOptions } from '../../store/index.ts';

export interface TempStore {
  store: Store;
  /** The store's own connection: total_changes() on it counts the store's writes. */
  storeDb: Db;
  /** A second connection to the same file, for looking under the hood. */
  db: Db;
  dir: string;
  file: string;
  clock: { now: number };
  cleanup(): void;
}

export const T0 = Date.UTC(2025, 0, 1, 12, 0, 0);

export function tempStore(options: Omit<StoreOptions, 'clock'> = {}): TempStore {
  const dir = mkdtempSync(join(tmpdir(), 'forge-store-'));
  const file = join(dir, 'forge.db');
  const clock = { now: T0 };
  const storeDb = openDatabase(file);
  const store = createStore(storeDb, file, { ...options, clock: () => clock.now });
  const db = openDatabase(file);
  return {
    store,
    storeDb,
    db,
    dir,
    file,
    clock,
    cleanup() {
      store.close();
      db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
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

/** Total rows written by a connection so far (SQLite's own counter). */
export function totalChanges(db: Db): number {
  return (db.prepare('SELECT total_changes() AS n').get() as { n: number }).n;
}
