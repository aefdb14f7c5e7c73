// Pure: what a pending or running cron run has become, from its agent task; and which agent
// a new run goes to.

import type { AgentRow, JobRunRow, JobRunState, TaskRow } from '../../store/index.ts';

export interface RunVerdict {
  /** `requeue`: its task was cancelled before any agent claimed it (its agent went offline): queue it again. */
  state: Exclude<JobRunState, 'pending'> | 'requeue';
  startedMs?: number | null;
  exitCode?: number | null;
  reason?: string | null;
  /** The task must be cancelled (its lease ran out, or it never started for a job that is gone). */
  cancelTask?: boolean;
}

interface JobResultBody { exitCode?: number | null; startedAt?: number; message?: string; timedOut?: boolean }

/** null: nothing changed. */
export function settleRun(run: JobRunRow, task: TaskRow | null, jobExists: boolean, now: number): RunVerdict | null {
  if (task === null) return { state: 'lost', reason: 'its agent task is gone' };
  const result = (task.result ?? {}) as JobResultBody;
  switch (task.state) {
    case 'queued':
      return jobExists ? null : { state: 'cancelled', reason: 'the job was removed before the run started', cancelTask: true };
    case 'claimed':
    case 'running':
      // A job task is never handed out twice (store/tasks.ts): an agent that stopped renewing
      // may have run the command, so the run is reported lost, not started again.
      if (task.leaseExpiresAt !== null && task.leaseExpiresAt <= now) {
        return { state: 'lost', reason: `agent ${task.leaseOwner ?? '?'} stopped reporting; the command may or may not have run (it is not started again)`, cancelTask: true };
      }
      return task.state === 'running' && run.state === 'pending' ? { state: 'running', startedMs: now } : null;
    case 'succeeded':
      return { state: 'succeeded', exitCode: result.exitCode ?? 0, startedMs: result.startedAt ?? null, reason: null };
    case 'failed':
      return { state: 'failed', exitCode: result.exitCode ?? null, startedMs: result.startedAt ?? null, reason: result.message ?? 'failed' };
    case 'cancelled':
      if (task.attempts > 0) return { state: 'lost', reason: 'its agent restarted during the run; the command may or may not have run (it is not started again)' };
      // Never claimed, so never started: safe to queue again (the agent it was placed on went offline).
      return jobExists ? { state: 'requeue' } : { state: 'cancelled', reason: 'the job was removed before the run started' };
    default:
      return null;
  }
}

/**
 * An online, trusted agent, preferring one that runs an instance of the service (its release
 * is likely built there already); ties by id. null: none online (the task waits for any agent).
 */
export function pickJobAgent(agents: readonly AgentRow[], service: string, _now: number): string | null {
  const online = agents.filter((a) => a.online && a.revokedAt === null).sort((a, b) => a.id.localeCompare(b.id));
  const runsIt = (a: AgentRow) => a.instances.some((i) => (i as { service?: string } | null)?.service === service);
  return (online.find(runsIt) ?? online[0])?.id ?? null;
}
