// A Provider whose "remote world" is a SQLite file, for reconciler tests: it
// survives a SIGKILL of the control plane (crash tests), can be changed behind
// Forge's back (drift tests), and counts every remote read and write (bench).
// Like a real provider it serves observe() from a cache refreshed by its own
// writes and by resync(), and finds its objects again by their key label.

import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { ForgeError } from '../../errors/index.ts';
import type { ProviderName, ServiceSpec } from '../../specs/types.ts';
import type {
  Action, ApplyContext, ApplyResult, InstanceState, Observed, ObservedInstance, Provider, ProviderEvent,
} from '../../providers/types.ts';

interface WorldRow {
  id: string; key: string; replica: number; hash: string; generation: number; spec: string;
  region: string; state: InstanceState; health: 'unknown' | 'healthy' | 'unhealthy';
}

export interface WorldStats { remoteReads: number; remoteWrites: number; observeCalls: number }

export interface WorldProviderOptions {
  /** SQLite path of the world; ':memory:' for a world that dies with the process. */
  path: string;
  name?: ProviderName;
  updateInPlace?: boolean;
  /** Fraction of apply() calls that fail with a retryable provider error before doing anything. */
  failRate?: number;
  /** Fraction of writes that happen remotely but whose answer is lost (a reset after the server acted). */
  ambiguousFailRate?: number;
  random?: () => number;
  /** resync() re-reads the world at most this often (real providers rate-limit their listing too). */
  minResyncIntervalMs?: number;
  /** The state a new instance starts in (default running): `failed` plays an app that cannot start. */
  createState?: (key: string) => 'running' | 'failed';
  /** Seen by the crash test: called after the remote write, before apply() returns. */
  afterRemoteWrite?: (action: Action) => void;
}

export interface WorldProvider extends Provider {
  stats: WorldStats;
  /** Direct access to the world, bypassing the provider (drift and duplicate checks). */
  world: {
    all(): ObservedInstance[];
    remove(id: string): void;
    setState(id: string, state: InstanceState): void;
    setHash(id: string, hash: string): void;
    insert(instance: ObservedInstance): void;
  };
}

export function openWorldProvider(options: WorldProviderOptions): WorldProvider {
  const db = new Database(options.path);
  db.pragma('journal_mode = WAL');
  db.pragma('busy_timeout = 5000');
  db.exec(`CREATE TABLE IF NOT EXISTS instances (
    id TEXT PRIMARY KEY, key TEXT NOT NULL, replica INTEGER NOT NULL, hash TEXT NOT NULL,
    generation INTEGER NOT NULL, spec TEXT NOT NULL, region TEXT NOT NULL, state TEXT NOT NULL, health TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS log (seq INTEGER PRIMARY KEY, kind TEXT NOT NULL, key TEXT NOT NULL, replica INTEGER, id TEXT NOT NULL);
    CREATE TRIGGER IF NOT EXISTS log_insert AFTER INSERT ON instances BEGIN
      INSERT INTO log (kind, key, replica, id) VALUES ('create', NEW.key, NEW.replica, NEW.id); END;
    CREATE TRIGGER IF NOT EXISTS log_delete AFTER DELETE ON instances BEGIN
      INSERT INTO log (kind, key, replica, id) VALUES ('destroy', OLD.key, OLD.replica, OLD.id); END;`);
  const random = options.random ?? Math.random;
  const stats: WorldStats = { remoteReads: 0, remoteWrites: 0, observeCalls: 0 };
  const cache = new Map<string, ObservedInstance[]>();
  const listeners = new Set<(key: string) => void>();
  const events: ProviderEvent[] = [];

  // Replicas of one release share one spec object, as a real provider's cache would.
  const specs = new Map<string, ServiceSpec>();
  const specOf = (text: string): ServiceSpec => {
    let spec = specs.get(text);
    if (!spec) {
      spec = JSON.parse(text) as ServiceSpec;
      specs.set(text, spec);
    }
    return spec;
  };
  const toInstance = (row: WorldRow): ObservedInstance => ({
    id: row.id, key: row.key, replica: row.replica, hash: row.hash, generation: row.generation,
    spec: specOf(row.spec), region: row.region, state: row.state, health: row.health,
    address: `127.0.0.1:${20000 + row.replica}`,
  });
  const insertStmt = db.prepare(`INSERT INTO instances (id, key, replica, hash, generation, spec, region, state, health)
    VALUES (@id, @key, @replica, @hash, @generation, @spec, @region, @state, @health)`);
  const insertRow = (i: ObservedInstance) => insertStmt.run({
    id: i.id, key: i.key, replica: i.replica, hash: i.hash, generation: i.generation,
    spec: JSON.stringify(i.spec ?? {}), region: i.region, state: i.state, health: i.health,
  });

  let lastReload = 0;
  function reload(): void {
    lastReload = Date.now();
    stats.remoteReads += 1;
    cache.clear();
    specs.clear();
    for (const row of db.prepare('SELECT * FROM instances ORDER BY id').iterate() as IterableIterator<WorldRow>) {
      const list = cache.get(row.key) ?? [];
      list.push(toInstance(row));
      cache.set(row.key, list);
    }
  }
  reload();

  function remember(key: string, list: ObservedInstance[]): void {
    if (list.length === 0) cache.delete(key);
    else cache.set(key, list);
    for (const listener of listeners) listener(key);
  }

  // After an answer was lost, the cache may be missing what the remote side did:
  // the next create re-lists before trusting it (what a real provider must do too).
  let uncertain = false;
  function write(action: Action, fn: () => void): void {
    stats.remoteWrites += 1;
    fn();
    if (options.ambiguousFailRate && random() < options.ambiguousFailRate) {
      uncertain = true;
      throw new ForgeError('E_PROVIDER', `connection reset after ${action.kind} of ${action.key} was sent`);
    }
    events.push({ key: action.key, time: Date.now(), source: 'world', type: action.kind, status: 'ok' });
    options.afterRemoteWrite?.(action);
  }

  function create(key: string, replica: number, spec: ServiceSpec, hash: string, generation: number): ObservedInstance {
    const instance: ObservedInstance = {
      id: `inst_${randomBytes(6).toString('hex')}`, key, replica, hash, generation, spec,
      region: spec.region, state: 'running', health: 'healthy', address: `127.0.0.1:${20000 + replica}`,
    };
    if (options.createState?.(key) === 'failed') Object.assign(instance, { state: 'failed', health: 'unhealthy', reason: 'exited with code 1' });
    insertRow(instance);
    return instance;
  }

  const provider: WorldProvider = {
    name: options.name ?? 'agent',
    // The world runs whatever it is given: image and source specs alike.
    capabilities: {
      updateInPlace: options.updateInPlace ?? true, runsImages: true, runsSource: true,
      // Stands in for an agent provider (routed by Forge) under that name, for Fly otherwise.
      routing: (options.name ?? 'agent') === 'agent' ? 'forge' : 'provider',
    },
    stats,
    async observe(keys) {
      stats.observeCalls += 1;
      const wanted = keys ?? [...cache.keys()];
      const out: Observed[] = [];
      for (const key of wanted) {
        const instances = cache.get(key);
        if (instances) out.push({ key, instances });
      }
      return out;
    },
    async apply(action: Action, _ctx: ApplyContext): Promise<ApplyResult> {
      if (options.failRate && random() < options.failRate) {
        throw new ForgeError('E_PROVIDER', `injected failure during ${action.kind} of ${action.key}`);
      }
      if (uncertain && action.kind === 'create') {
        reload();
        uncertain = false;
      }
      const list = [...(cache.get(action.key) ?? [])];
      switch (action.kind) {
        case 'create': {
          // Idempotent by label: a create repeated after a crash finds the first one.
          const existing = list.find((i) => i.replica === action.replica);
          if (existing) return { instanceId: existing.id, message: 'already exists' };
          let created: ObservedInstance | undefined;
          write(action, () => { created = create(action.key, action.replica, action.spec, action.hash, action.generation); });
          remember(action.key, [...list, created!]);
          return { instanceId: created!.id };
        }
        case 'update': {
          const target = list.find((i) => i.id === action.instanceId);
          if (!target) throw new ForgeError('E_PROVIDER', `instance ${action.instanceId} of ${action.key} is gone`);
          write(action, () => {
            db.prepare('UPDATE instances SET hash = ?, generation = ?, spec = ?, state = ?, health = ? WHERE id = ?')
              .run(action.hash, action.generation, JSON.stringify(action.spec), 'running', 'healthy', target.id);
          });
          const updated = { ...target, hash: action.hash, generation: action.generation, spec: action.spec, state: 'running' as const, health: 'healthy' as const };
          remember(action.key, list.map((i) => (i.id === target.id ? updated : i)));
          return { instanceId: target.id };
        }
        case 'replace': {
          let created: ObservedInstance | undefined;
          write(action, () => db.transaction(() => {
            db.prepare('DELETE FROM instances WHERE id = ?').run(action.instanceId);
            created = create(action.key, action.replica, action.spec, action.hash, action.generation);
          })());
          remember(action.key, [...list.filter((i) => i.id !== action.instanceId), created!]);
          return { instanceId: created!.id };
        }
        case 'start':
        case 'stop': {
          const state: InstanceState = action.kind === 'start' ? 'running' : 'stopped';
          write(action, () => { db.prepare('UPDATE instances SET state = ? WHERE id = ?').run(state, action.instanceId); });
          remember(action.key, list.map((i) => (i.id === action.instanceId ? { ...i, state } : i)));
          return { instanceId: action.instanceId };
        }
        case 'destroy': {
          if (action.instanceId) {
            write(action, () => { db.prepare('DELETE FROM instances WHERE id = ?').run(action.instanceId); });
            remember(action.key, list.filter((i) => i.id !== action.instanceId));
          } else {
            write(action, () => { db.prepare('DELETE FROM instances WHERE key = ?').run(action.key); });
            remember(action.key, []);
          }
          return {};
        }
        case 'noop':
        case 'error':
          return {};
      }
    },
    async events(key) {
      return events.filter((e) => e.key === key);
    },
    async resync(force) {
      if (force || Date.now() - lastReload >= (options.minResyncIntervalMs ?? 0)) reload();
    },
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async close() {
      db.close();
    },
    world: {
      all: () => (db.prepare('SELECT * FROM instances ORDER BY key, replica').all() as WorldRow[]).map(toInstance),
      remove: (id) => { db.prepare('DELETE FROM instances WHERE id = ?').run(id); },
      setState: (id, state) => { db.prepare('UPDATE instances SET state = ? WHERE id = ?').run(state, id); },
      setHash: (id, hash) => { db.prepare('UPDATE instances SET hash = ? WHERE id = ?').run(hash, id); },
      insert: (instance) => { insertRow(instance); },
    },
  };
  return provider;
}
