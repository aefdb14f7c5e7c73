// Cron job cursors and runs (migration 10). `commit` is the no-run-twice point: the job's new
// cursor, a row per handled tick (UNIQUE by service, job and scheduled time) and the agent task
// of the tick that starts are written in one transaction, before anything runs. A decision
// made twice (a restarted control plane, two schedulers) finds the cursor moved or the row
// taken and writes nothing.

import { ForgeError } from '../errors/index.ts';
import { type Sql, transactional } from './sql.ts';
import type { EnqueueInput, TasksStore } from './tasks.ts';
import { type Clock, capText, iso, newId } from './util.ts';

export type JobRunState = 'pending' | 'running' | 'succeeded' | 'failed' | 'skipped' | 'lost' | 'cancelled';
export const ACTIVE_RUN_STATES: readonly JobRunState[] = ['pending', 'running'];

export interface JobRunRow {
  id: string;
  service: string;
  job: string;
  /** The tick (epoch ms) this run is for; for a manual trigger, when it was asked for. */
  scheduledMs: number;
  trigger: 'schedule' | 'manual';
  state: JobRunState;
  reason: string | null;
  taskId: string | null;
  startedMs: number | null;
  endedMs: number | null;
  exitCode: number | null;
  /** The `instance` its output is stored under in the log store. */
  logInstance: string | null;
}

interface RunRecord {
  id: string; service: string; job: string; scheduled_ms: number; trigger: 'schedule' | 'manual'; state: JobRunState;
  reason: string | null; task_id: string | null; started_ms: number | null; ended_ms: number | null; exit_code: number | null;
  log_instance: string | null;
}

const toRow = (r: RunRecord): JobRunRow => ({
  id: r.id, service: r.service, job: r.job, scheduledMs: r.scheduled_ms, trigger: r.trigger, state: r.state, reason: r.reason,
  taskId: r.task_id, startedMs: r.started_ms, endedMs: r.ended_ms, exitCode: r.exit_code, logInstance: r.log_instance,
});

export interface TickWrite {
  tick: number;
  /** Set for the tick that starts a run: the task to enqueue (its payload gets runId and instanceId). */
  start?: (run: { runId: string; instanceId: string }) => EnqueueInput;
  /** Why a tick is skipped. */
  reason?: string;
}

export interface CommitInput {
  service: string;
  job: string;
  /** The cursor the decision was made from (null: the job had none); the write only lands if it is still that. */
  from: number | null;
  to: number;
  ticks: TickWrite[];
  trigger?: 'schedule' | 'manual';
}

const MAX_REASON = 500;
/** The log store's `instance` of a run's output. */
export const jobInstanceId = (runId: string): string => `job-${runId.replace(/^run_/, '')}`;

export function createJobsStore(db: Sql, clock: Clock, tasks: TasksStore) {
  const cursorOf = db.prepare<[string, string], { cursor_ms: number }>('SELECT cursor_ms FROM job_cursors WHERE service = ? AND job = ?');
  const insertCursor = db.prepare(
    `INSERT INTO job_cursors (service, job, cursor_ms, updated_at) VALUES (@service, @job, @to, @now) ON CONFLICT DO NOTHING`,
  );
  const moveCursor = db.prepare(
    `UPDATE job_cursors SET cursor_ms = @to, updated_at = @now WHERE service = @service AND job = @job AND cursor_ms = @from`,
  );
  const insertRun = db.prepare(
    `INSERT INTO job_runs (id, service, job, scheduled_ms, trigger, state, reason, task_id, log_instance, ended_ms, created_at)
     VALUES (@id, @service, @job, @tick, @trigger, @state, @reason, NULL, @logInstance, @endedMs, @now)`,
  );
  const setTask = db.prepare('UPDATE job_runs SET task_id = ? WHERE id = ?');
  const one = db.prepare<[string], RunRecord>('SELECT * FROM job_runs WHERE id = ?');
  const forJob = db.prepare<[string, string, number], RunRecord>(
    'SELECT * FROM job_runs WHERE service = ? AND job = ? ORDER BY scheduled_ms DESC, created_at DESC LIMIT ?',
  );
  const active = db.prepare<[], RunRecord>(`SELECT * FROM job_runs WHERE state IN ('pending', 'running') ORDER BY scheduled_ms`);
  const started = db.prepare(`UPDATE job_runs SET state = 'running', started_ms = @at WHERE id = @id AND state = 'pending'`);
  const finish = db.prepare(
    `UPDATE job_runs SET state = @state, reason = @reason, exit_code = @exitCode, ended_ms = @at,
       started_ms = COALESCE(started_ms, @startedMs)
     WHERE id = @id AND state IN ('pending', 'running')`,
  );
  const lastOf = db.prepare<[string, string, string], RunRecord>(
    'SELECT * FROM job_runs WHERE service = ? AND job = ? AND state = ? ORDER BY scheduled_ms DESC LIMIT 1',
  );
  const prune = db.prepare(
    `DELETE FROM job_runs WHERE service = @service AND job = @job AND state NOT IN ('pending', 'running') AND id NOT IN (
       SELECT id FROM job_runs WHERE service = @service AND job = @job AND state NOT IN ('pending', 'running')
       ORDER BY scheduled_ms DESC LIMIT @keep)`,
  );

  const commit = transactional(db, (input: CommitInput): JobRunRow[] => {
    const now = iso(clock());
    const args = { service: input.service, job: input.job, from: input.from, to: input.to, now };
    const moved = input.from === null ? insertCursor.run(args).changes : moveCursor.run(args).changes;
    if (moved === 0) throw new ForgeError('E_CONFLICT', `job ${input.service}/${input.job}: its cursor moved meanwhile (another scheduler handled these ticks)`);
    const rows: JobRunRow[] = [];
    for (const t of input.ticks) {
      const id = newId('run');
      const instanceId = jobInstanceId(id);
      try {
        insertRun.run({
          id, service: input.service, job: input.job, tick: t.tick, trigger: input.trigger ?? 'schedule',
          state: t.start ? 'pending' : 'skipped', reason: t.reason === undefined ? null : capText(t.reason, MAX_REASON),
          logInstance: t.start ? instanceId : null, endedMs: t.start ? null : clock(), now,
        });
      } catch (cause) {
        if ((cause as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') {
          throw new ForgeError('E_CONFLICT', `job ${input.service}/${input.job} already has a run for ${new Date(t.tick).toISOString()}`, { cause });
        }
        throw cause;
      }
      if (t.start) {
        const task = tasks.enqueue(t.start({ runId: id, instanceId }));
        setTask.run(task.id, id);
      }
      rows.push(toRow(one.get(id)!));
    }
    return rows;
  });

  return {
    /** The newest tick already handled, or null for a job never scheduled. */
    cursor(service: string, job: string): number | null {
      return cursorOf.get(service, job)?.cursor_ms ?? null;
    },
    /**
     * Moves the cursor from `from` to `to` and writes the ticks' rows and the starting tick's task,
     * all or nothing. E_CONFLICT when the cursor is no longer `from` or a tick already has a row.
     */
    commit: (input: CommitInput): JobRunRow[] => commit(input),
    get(id: string): JobRunRow | null {
      const r = one.get(id);
      return r ? toRow(r) : null;
    },
    /** A job's runs, newest tick first. */
    list(service: string, job: string, limit = 100): JobRunRow[] {
      return forJob.all(service, job, limit).map(toRow);
    },
    /** Every pending or running run, oldest tick first. */
    listActive(): JobRunRow[] {
      return active.all().map(toRow);
    },
    /** The newest run of a job in `state` (e.g. the last success), or null. */
    last(service: string, job: string, state: JobRunState): JobRunRow | null {
      const r = lastOf.get(service, job, state);
      return r ? toRow(r) : null;
    },
    /** A pending run whose task was cancelled before any agent claimed it gets a new task. */
    requeue: transactional(db, (id: string, input: EnqueueInput): boolean => {
      const run = one.get(id);
      if (!run || run.state !== 'pending') return false;
      setTask.run(tasks.enqueue(input).id, id);
      return true;
    }),
    markStarted(id: string, at: number): boolean {
      return started.run({ id, at }).changes > 0;
    },
    /** Ends a pending or running run; false when it had already ended. */
    finish(id: string, state: Exclude<JobRunState, 'pending' | 'running'>, at: number, fields: { exitCode?: number | null; reason?: string | null; startedMs?: number | null } = {}): boolean {
      return finish.run({
        id, state, at, exitCode: fields.exitCode ?? null, startedMs: fields.startedMs ?? null,
        reason: fields.reason === undefined || fields.reason === null ? null : capText(fields.reason, MAX_REASON),
      }).changes > 0;
    },
    /** Keeps a job's newest `keep` finished runs. */
    prune(service: string, job: string, keep: number): number {
      return prune.run({ service, job, keep }).changes;
    },
  };
}

export type JobsStore = ReturnType<typeof createJobsStore>;
