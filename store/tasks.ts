// Agent work items with leases. A task is handed to one agent at a time: `claim` is a single
// UPDATE whose WHERE re-checks claimability, so two claimers (threads or processes) can never
// both win, and a lease that ran out (the agent died) makes the task claimable again.
//
// Fencing: every task carries the leader term it was issued under: a fenced leader's own term
// (PgSql.fence: its transactions first check, under the writers' lock, that the term is still its
// own), else the one in leader_term (a standby serving the API; SQLite's is always 0). Agents
// refuse a task whose term is lower than one they have seen (agent/term-guard.ts).

import { ForgeError } from '../errors/index.ts';
import { type Sql, transactional } from './sql.ts';
import type { TaskKind, TaskLogLine, TaskRow, TaskState } from './rows.ts';
import { toPostgres } from './pg-dialect.ts';
import { type Clock, capText, iso, newId } from './util.ts';

export const DEFAULT_TASK_LOG_RETENTION = 2_000;
const MAX_LOG_LINE = 8_192;

export interface EnqueueInput {
  kind: TaskKind;
  service: string;
  generation: number;
  replica: number;
  /** Target agent (the scheduler's placement); omitted or null: any agent may claim it. */
  agentId?: string | null;
  payload?: unknown;
  /**
   * While a queued/claimed/running task holds this key, enqueueing the same key returns that
   * task instead of a new one: a reconcile repeated after a crash does not queue the work twice.
   */
  dedupeKey?: string | null;
}

interface TaskRecord {
  id: string;
  kind: TaskKind;
  service_name: string;
  generation: number;
  replica: number;
  agent_id: string | null;
  dedupe_key: string | null;
  payload: string;
  state: TaskState;
  lease_owner: string | null;
  lease_expires_at: number | null;
  attempts: number;
  term: number;
  result: string | null;
  created_at: string;
  updated_at: string;
}

function toRow(r: TaskRecord): TaskRow {
  return {
    id: r.id,
    kind: r.kind,
    service: r.service_name,
    generation: r.generation,
    replica: r.replica,
    agentId: r.agent_id,
    dedupeKey: r.dedupe_key,
    payload: JSON.parse(r.payload) as unknown,
    state: r.state,
    leaseOwner: r.lease_owner,
    leaseExpiresAt: r.lease_expires_at,
    attempts: r.attempts,
    term: Number(r.term),
    result: r.result === null ? null : (JSON.parse(r.result) as unknown),
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

const ACTIVE = `state IN ('queued', 'claimed', 'running')`;
// A job task whose lease ran out is never handed out again: its command may have run, and a
// cron run must not start twice (the job scheduler reports it lost instead).
const CLAIMABLE = `(state = 'queued' OR (state IN ('claimed', 'running') AND lease_expires_at <= CAST(@now AS INTEGER) AND kind <> 'job'))`;
const LEASE_END = 'CAST(@now AS INTEGER) + CAST(@leaseMs AS INTEGER)';
const HELD_BY = `lease_owner = @agentId AND state IN ('claimed', 'running')`;
const CURRENT_TERM = '(SELECT term FROM leader_term WHERE id = 1)';
// The fenced leader's own term when there is one, else the database's (a standby serving an API
// request, SQLite). The fence has checked that the two are equal before the write.
const ISSUE_TERM = `COALESCE(CAST(@term AS INTEGER), ${CURRENT_TERM})`;

export function createTasksStore(
  db: Sql, clock: Clock, logRetention: number = DEFAULT_TASK_LOG_RETENTION, fenceTerm: () => number | null = () => null,
) {
  const insert = db.prepare<Record<string, unknown>, TaskRecord>(
    `INSERT INTO tasks (id, kind, service_name, generation, replica, agent_id, dedupe_key, payload, state,
       attempts, term, created_at, updated_at)
     VALUES (@id, @kind, @service, @generation, @replica, @agentId, @dedupeKey, @payload, 'queued', 0,
       ${ISSUE_TERM}, @now, @now)
     RETURNING *`,
  );
  // The same work asked for again under a newer term: the current leader re-issues it as its own.
  const reissue = db.prepare<Record<string, unknown>, TaskRecord>(
    `UPDATE tasks SET term = ${ISSUE_TERM} WHERE id = @id AND term < ${ISSUE_TERM} RETURNING *`,
  );
  const currentTerm = db.prepare<[], { term: number }>(`SELECT term FROM leader_term WHERE id = 1`);
  const activeByKey = db.prepare<[string], TaskRecord>(`SELECT * FROM tasks WHERE dedupe_key = ? AND ${ACTIVE}`);
  // The lease arithmetic casts its parameters: PostgreSQL cannot type `$1 + $2` on its own.
  const claimable = `(agent_id = @agentId OR agent_id IS NULL) AND ${CLAIMABLE}`;
  const claim = db.prepare<Record<string, unknown>, TaskRecord>({
    sqlite: `UPDATE tasks SET state = 'claimed', lease_owner = @agentId, lease_expires_at = ${LEASE_END},
       attempts = attempts + 1, updated_at = @iso
     WHERE ${CLAIMABLE} AND id = (
       SELECT id FROM tasks
       WHERE ${claimable} AND (@kinds IS NULL OR kind IN (SELECT value FROM json_each(@kinds)))
       ORDER BY seq LIMIT 1)
     RETURNING *`,
    // Row locks hand out tasks: a claimer skips a task another replica is claiming right now
    // and takes the next, instead of queueing behind it.
    postgres: toPostgres(`UPDATE tasks SET state = 'claimed', lease_owner = @agentId, lease_expires_at = ${LEASE_END},
       attempts = attempts + 1, updated_at = @iso
     WHERE ${CLAIMABLE} AND id = (
       SELECT id FROM tasks
       WHERE ${claimable}
         AND (CAST(@kinds AS TEXT) IS NULL OR kind IN (SELECT json_array_elements_text(CAST(@kinds AS json))))
       ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED)
     RETURNING *`),
  });
  const renew = db.prepare(
    `UPDATE tasks SET lease_expires_at = ${LEASE_END}, updated_at = @iso WHERE id = @taskId AND ${HELD_BY}`,
  );
  const start = db.prepare(
    `UPDATE tasks SET state = 'running', lease_expires_at = ${LEASE_END}, updated_at = @iso
     WHERE id = @taskId AND ${HELD_BY}`,
  );
  const complete = db.prepare(
    `UPDATE tasks SET state = @state, result = @result, lease_expires_at = NULL, updated_at = @iso
     WHERE id = @taskId AND ${HELD_BY}`,
  );
  const cancel = db.prepare(
    `UPDATE tasks SET state = 'cancelled', lease_expires_at = NULL, updated_at = @iso WHERE id = @taskId AND ${ACTIVE}`,
  );
  const cancelForService = db.prepare(
    `UPDATE tasks SET state = 'cancelled', lease_expires_at = NULL, updated_at = @iso
     WHERE service_name = @service AND ${ACTIVE}`,
  );
  const cancelForAgent = db.prepare(
    `UPDATE tasks SET state = 'cancelled', lease_expires_at = NULL, updated_at = @iso
     WHERE agent_id = @agentId AND ${ACTIVE}`,
  );
  const cancelClaimedBy = db.prepare(
    `UPDATE tasks SET state = 'cancelled', lease_expires_at = NULL, updated_at = @iso
     WHERE lease_owner = @agentId AND state IN ('claimed', 'running')`,
  );
  const one = db.prepare<[string], TaskRecord>('SELECT * FROM tasks WHERE id = ?');
  const forService = db.prepare<[string, number], TaskRecord>(
    'SELECT * FROM tasks WHERE service_name = ? ORDER BY seq DESC LIMIT ?',
  );
  const active = db.prepare<[], TaskRecord>(`SELECT * FROM tasks WHERE ${ACTIVE} ORDER BY seq`);
  const byState = db.prepare<[], { state: TaskState; n: number }>('SELECT state, count(*) AS n FROM tasks GROUP BY state');
  const insertLog = db.prepare<[string, string, string], { seq: number }>(
    'INSERT INTO task_logs (task_id, time, line) VALUES (?, ?, ?) RETURNING seq',
  );
  const trimLog = db.prepare(
    `DELETE FROM task_logs WHERE task_id = @taskId AND seq <= (
       SELECT seq FROM task_logs WHERE task_id = @taskId ORDER BY seq DESC LIMIT 1 OFFSET @keep)`,
  );
  const logs = db.prepare<[string, number, number], TaskLogLine>(
    'SELECT seq, time, line FROM task_logs WHERE task_id = ? AND seq > ? ORDER BY seq LIMIT ?',
  );

  const enqueue = transactional(db, (input: EnqueueInput): TaskRow => {
    const dedupeKey = input.dedupeKey ?? null;
    const existing = dedupeKey === null ? undefined : activeByKey.get(dedupeKey);
    if (existing) return toRow(reissue.get({ id: existing.id, term: fenceTerm() }) ?? existing);
    const row = insert.get({
      id: newId('task'),
      kind: input.kind,
      service: input.service,
      generation: input.generation,
      replica: input.replica,
      agentId: input.agentId ?? null,
      dedupeKey,
      payload: JSON.stringify(input.payload ?? null),
      term: fenceTerm(),
      now: iso(clock()),
    });
    return toRow(row as TaskRecord);
  });

  const appendLog = transactional(db, (taskId: string, line: string): number => {
    let seq: number;
    try {
      seq = (insertLog.get(taskId, iso(clock()), capText(line, MAX_LOG_LINE)) as { seq: number }).seq;
    } catch (cause) {
      if ((cause as { code?: string }).code === 'SQLITE_CONSTRAINT_FOREIGNKEY') {
        throw new ForgeError('E_NOT_FOUND', `task ${taskId} does not exist`, { cause });
      }
      throw cause;
    }
    trimLog.run({ taskId, keep: logRetention });
    return seq;
  });

  const lease = (taskId: string, agentId: string, now: number, leaseMs: number) => ({
    taskId,
    agentId,
    now,
    leaseMs,
    iso: iso(now),
  });

  return {
    /**
     * Queues a task under the current leader term (or returns the active task holding the same
     * dedupeKey, re-issued under the current term when it was queued under an older one).
     */
    enqueue: (input: EnqueueInput): TaskRow => enqueue(input),
    /**
     * Hands `agentId` its oldest claimable task (targeted at it or at no agent): a queued one, or
     * one whose holder's lease ran out by `now`. Sets the lease to `now + leaseMs` and counts
     * the attempt. Null when there is nothing to do.
     */
    claim(agentId: string, now: number, leaseMs: number, kinds?: readonly TaskKind[]): TaskRow | null {
      const row = claim.get({
        agentId,
        now,
        leaseMs,
        iso: iso(now),
        kinds: kinds === undefined ? null : JSON.stringify(kinds),
      });
      return row ? toRow(row) : null;
    },
    /** Extends the lease; only its holder may, and only while the task is claimed or running. */
    renew(taskId: string, agentId: string, now: number, leaseMs: number): boolean {
      return renew.run(lease(taskId, agentId, now, leaseMs)).changes > 0;
    },
    /** The holder reports that work began (claimed → running), extending the lease. */
    start(taskId: string, agentId: string, now: number, leaseMs: number): boolean {
      return start.run(lease(taskId, agentId, now, leaseMs)).changes > 0;
    },
    /** The holder's final report. False when the caller no longer holds the task (lease lost, cancelled). */
    complete(taskId: string, agentId: string, result: unknown, ok: boolean): boolean {
      return (
        complete.run({
          taskId,
          agentId,
          state: ok ? 'succeeded' : 'failed',
          result: JSON.stringify(result ?? null),
          iso: iso(clock()),
        }).changes > 0
      );
    },
    /** The leader term in the database now (0 on SQLite, or before any election). */
    currentTerm(): number {
      return Number(currentTerm.get()?.term ?? 0);
    },
    /** Cancels a queued/claimed/running task; its holder's next renew or complete is refused. */
    cancel(taskId: string): boolean {
      return cancel.run({ taskId, iso: iso(clock()) }).changes > 0;
    },
    /** Cancels every active task of a service; returns how many. */
    cancelForService(service: string): number {
      return cancelForService.run({ service, iso: iso(clock()) }).changes;
    },
    /** Cancels every active task targeted at an agent (it was lost; its work is placed elsewhere). */
    cancelForAgent(agentId: string): number {
      return cancelForAgent.run({ agentId, iso: iso(clock()) }).changes;
    },
    /** Cancels the tasks an agent had claimed (it registered again: that work died with its last run). */
    cancelClaimedBy(agentId: string): number {
      return cancelClaimedBy.run({ agentId, iso: iso(clock()) }).changes;
    },
    get(id: string): TaskRow | null {
      const r = one.get(id);
      return r ? toRow(r) : null;
    },
    /** A service's tasks, newest first. */
    listFor(service: string, limit = 100): TaskRow[] {
      return forService.all(service, limit).map(toRow);
    },
    /** Every queued, claimed or running task, oldest first. */
    listActive(): TaskRow[] {
      return active.all().map(toRow);
    },
    /** How many task rows (every kind) are in each state now; states with none are absent. */
    countByState(): Map<TaskState, number> {
      return new Map(byState.all().map((r) => [r.state, r.n]));
    },
    /** Appends a log line (capped at 8 KiB), keeping the task's newest lines; returns its seq. */
    appendLog: (taskId: string, line: string): number => appendLog(taskId, line),
    /** Lines after `afterSeq` (0 for the start of what is kept), oldest first. */
    logs(taskId: string, afterSeq = 0, limit = 1_000): TaskLogLine[] {
      return logs.all(taskId, afterSeq, limit);
    },
  };
}

export type TasksStore = ReturnType<typeof createTasksStore>;
