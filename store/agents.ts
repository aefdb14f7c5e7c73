// Worker agents: registration, heartbeats (last report is the truth), offline marking.

import { ForgeError } from '../errors/index.ts';
import type { Sql } from './sql.ts';
import type { AgentRuntime } from '../specs/runtimes.ts';
import type { AgentCapacity, AgentRow } from './rows.ts';
import { type Clock, canonicalJson, iso, newId } from './util.ts';

export interface RegisterInput {
  /** Re-registering with a known id updates that agent; omitted: a new `agt_…` id. */
  id?: string;
  name: string;
  tokenHash: string;
  addresses: string[];
  labels: Record<string, string>;
  capacity: AgentCapacity;
  /** What the agent holds as it registers (replaces the last report); default none. */
  instances?: unknown[];
  /** Language runtimes it found at start (replaces what it reported before); default none. */
  runtimes?: AgentRuntime[];
}

export interface HeartbeatInput {
  usage: unknown;
  instances: unknown[];
}

interface AgentRecord {
  id: string;
  name: string;
  token_hash: string;
  addresses: string;
  labels: string;
  cpus: number;
  memory_bytes: number;
  usage: string | null;
  instances: string;
  runtimes: string;
  online: 0 | 1;
  last_seen_ms: number | null;
  revoked_at: string | null;
  created_at: string;
  updated_at: string;
}

function toRow(r: AgentRecord): AgentRow {
  return {
    id: r.id,
    name: r.name,
    tokenHash: r.token_hash,
    addresses: JSON.parse(r.addresses) as string[],
    labels: JSON.parse(r.labels) as Record<string, string>,
    capacity: { cpus: r.cpus, memoryBytes: r.memory_bytes },
    usage: r.usage === null ? null : (JSON.parse(r.usage) as unknown),
    instances: JSON.parse(r.instances) as unknown[],
    runtimes: JSON.parse(r.runtimes) as AgentRuntime[],
    online: r.online === 1,
    lastSeenMs: r.last_seen_ms,
    revokedAt: r.revoked_at,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

export function createAgentsStore(db: Sql, clock: Clock) {
  const register = db.prepare<Record<string, unknown>, AgentRecord>(
    `INSERT INTO agents (id, name, token_hash, addresses, labels, cpus, memory_bytes, instances, runtimes, online, last_seen_ms,
       created_at, updated_at)
     VALUES (@id, @name, @tokenHash, @addresses, @labels, @cpus, @memoryBytes, @instances, @runtimes, 1, @now, @iso, @iso)
     ON CONFLICT (id) DO UPDATE SET
       name = excluded.name, token_hash = excluded.token_hash, addresses = excluded.addresses,
       labels = excluded.labels, cpus = excluded.cpus, memory_bytes = excluded.memory_bytes,
       instances = excluded.instances, runtimes = excluded.runtimes,
       online = 1, last_seen_ms = excluded.last_seen_ms, updated_at = excluded.updated_at
     RETURNING *`,
  );
  const heartbeat = db.prepare(
    `UPDATE agents SET usage = @usage, instances = @instances, online = 1, last_seen_ms = @now, updated_at = @iso
     WHERE id = @id AND revoked_at IS NULL`,
  );
  const setInstances = db.prepare(`UPDATE agents SET instances = @instances, updated_at = @iso WHERE id = @id`);
  const markOffline = db.prepare<{ cutoff: number; iso: string }, { id: string }>(
    `UPDATE agents SET online = 0, updated_at = @iso
     WHERE online = 1 AND (last_seen_ms IS NULL OR last_seen_ms < @cutoff)
     RETURNING id`,
  );
  const all = db.prepare<[], AgentRecord>('SELECT * FROM agents ORDER BY name, id');
  const one = db.prepare<[string], AgentRecord>('SELECT * FROM agents WHERE id = ?');
  const byToken = db.prepare<[string], AgentRecord>('SELECT * FROM agents WHERE token_hash = ?');
  const remove = db.prepare('DELETE FROM agents WHERE id = ?');
  const revoke = db.prepare(
    `UPDATE agents SET revoked_at = @iso, online = 0, updated_at = @iso WHERE id = @id AND revoked_at IS NULL`,
  );

  return {
    /** Creates or updates an agent and marks it online (registration counts as being seen). */
    register(input: RegisterInput, now: number = clock()): AgentRow {
      try {
        const row = register.get({
          id: input.id ?? newId('agt'),
          name: input.name,
          tokenHash: input.tokenHash,
          addresses: JSON.stringify(input.addresses),
          labels: canonicalJson(input.labels),
          cpus: input.capacity.cpus,
          memoryBytes: input.capacity.memoryBytes,
          instances: JSON.stringify(input.instances ?? []),
          runtimes: JSON.stringify(input.runtimes ?? []),
          now,
          iso: iso(now),
        });
        return toRow(row as AgentRecord);
      } catch (cause) {
        if ((cause as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') {
          throw new ForgeError('E_CONFLICT', `agent ${input.name}: its token is already registered to another agent`, {
            cause,
          });
        }
        throw cause;
      }
    },
    /** Records the agent's report. False for an unknown agent (it must register first). */
    heartbeat(id: string, report: HeartbeatInput, now: number): boolean {
      return (
        heartbeat.run({
          id,
          usage: JSON.stringify(report.usage ?? null),
          instances: JSON.stringify(report.instances),
          now,
          iso: iso(now),
        }).changes > 0
      );
    },
    /**
     * One instance as a task result reported it, put in the agent's stored list in place of its
     * older report (the next heartbeat replaces the whole list). With several replicas, the
     * leader may not be the one that took the result: it reads this.
     */
    noteInstance(id: string, instance: { id: string }, now: number = clock()): boolean {
      return db.transaction(() => {
        const r = one.get(id);
        if (!r) return false;
        const list = (JSON.parse(r.instances) as { id?: unknown }[]).filter((i) => i.id !== instance.id);
        list.push(instance);
        return setInstances.run({ id, instances: JSON.stringify(list), iso: iso(now) }).changes > 0;
      });
    },
    /** Marks offline every online agent not seen for more than `olderThanMs`; returns their ids. */
    markOffline(olderThanMs: number, now: number): string[] {
      return markOffline.all({ cutoff: now - olderThanMs, iso: iso(now) }).map((r) => r.id);
    },
    list(): AgentRow[] {
      return all.all().map(toRow);
    },
    get(id: string): AgentRow | null {
      const r = one.get(id);
      return r ? toRow(r) : null;
    },
    getByTokenHash(tokenHash: string): AgentRow | null {
      const r = byToken.get(tokenHash);
      return r ? toRow(r) : null;
    },
    /** Marks an agent revoked and offline; false when unknown or already revoked. Its row stays (a tombstone). */
    revoke(id: string, now: number = clock()): boolean {
      return revoke.run({ id, iso: iso(now) }).changes > 0;
    },
    /** Forgets a decommissioned agent. Its tasks stay as history. */
    remove(id: string): boolean {
      return remove.run(id).changes > 0;
    },
  };
}

export type AgentsStore = ReturnType<typeof createAgentsStore>;
