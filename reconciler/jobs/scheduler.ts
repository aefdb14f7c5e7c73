// The cron scheduler of the control plane: thin. Each pass, for every job of every running
// service: settle its runs from their agent tasks, ask decideDue() (pure) what is due, and
// write the answer with store.jobs.commit — cursor, rows and the agent task in one transaction
// — before anything can start. It runs beside the reconcile loop; with several control planes
// only the leader should run it (two would only lose E_CONFLICT races, never start a tick twice).

import { ForgeError, isForgeError } from '../../errors/index.ts';
import type { JobPayload } from '../../schemas/agent-protocol.ts';
import type { JobSpec, ServiceSpec } from '../../specs/types.ts';
import { jobInstanceId, type DesiredRow, type JobRunRow, type Store } from '../../store/index.ts';
import { decideDue, scheduleOf } from './due.ts';
import { nextTick } from '../../specs/cron.ts';
import type { JobMetrics, JobResult } from './metrics.ts';
import { pickJobAgent, settleRun } from './settle.ts';

export interface JobSchedulerOptions {
  store: Store;
  clock?: () => number;
  metrics?: JobMetrics;
  /** Longest sleep between passes (default 1 s; a pass also runs at each job's next tick). */
  intervalMs?: number;
  /** Test-only six-field schedules (see specs/rules.ts SECOND_SCHEDULES_ENV). */
  allowSeconds?: boolean;
  log?: (line: string) => void;
}

export const jobKey = (service: string, job: string): string => `${service}/${job}`;

export function createJobScheduler(options: JobSchedulerOptions) {
  const { store } = options;
  const clock = options.clock ?? Date.now;
  const log = options.log ?? (() => {});
  const intervalMs = options.intervalMs ?? 1_000;
  let timer: NodeJS.Timeout | undefined;
  let stopped = true;

  function count(run: Pick<JobRunRow, 'service' | 'job'>, result: JobResult): void {
    options.metrics?.runsTotal.inc({ job: jobKey(run.service, run.job), result });
  }

  function jobsOf(row: DesiredRow): JobSpec[] {
    return row.state === 'running' && !row.deleting ? row.spec.jobs ?? [] : [];
  }

  /** Ends runs whose task ended, was lost with its agent, or whose service or job is gone. */
  function settleAll(now: number, rows: Map<string, DesiredRow>, specs: Map<string, JobSpec>): void {
    for (const run of store.jobs.listActive()) {
      const task = run.taskId === null ? null : store.tasks.get(run.taskId);
      const verdict = settleRun(run, task, specs.has(jobKey(run.service, run.job)), now);
      if (verdict === null) continue;
      if (verdict.state === 'requeue') {
        const input = enqueueInput(rows.get(run.service)!, specs.get(jobKey(run.service, run.job))!, run.scheduledMs)({ runId: run.id, instanceId: run.logInstance ?? jobInstanceId(run.id) });
        store.jobs.requeue(run.id, input);
        continue;
      }
      if (verdict.state === 'running') {
        store.jobs.markStarted(run.id, verdict.startedMs ?? now);
        continue;
      }
      if (verdict.cancelTask && task) store.tasks.cancel(task.id);
      if (store.jobs.finish(run.id, verdict.state, now, { ...verdict, reason: verdict.reason ?? null })) {
        count(run, verdict.state);
        log(`job ${jobKey(run.service, run.job)} run ${run.id} ${verdict.state}${verdict.reason ? `: ${verdict.reason}` : ''}`);
      }
    }
  }

  function payloadFor(row: DesiredRow, job: JobSpec, tick: number, run: { runId: string; instanceId: string }): JobPayload {
    return { runId: run.runId, instanceId: run.instanceId, job: job.name, scheduledAt: tick, command: job.command, timeoutMs: job.timeoutMs, spec: row.spec as ServiceSpec, hash: row.hash };
  }

  function enqueueInput(row: DesiredRow, job: JobSpec, tick: number) {
    const agentId = pickJobAgent(store.agents.list(), row.name, clock());
    return (run: { runId: string; instanceId: string }) => ({
      kind: 'job' as const, service: row.name, generation: row.generation, replica: 0, agentId,
      payload: payloadFor(row, job, tick, run), dedupeKey: `job:${jobKey(row.name, job.name)}:${tick}`,
    });
  }

  function replaceRuns(ids: readonly string[], now: number): void {
    for (const id of ids) {
      const run = store.jobs.get(id);
      if (run?.taskId) store.tasks.cancel(run.taskId); // the agent's next renewal is refused: it stops the command
      if (run && store.jobs.finish(id, 'cancelled', now, { reason: 'replaced by a newer run (concurrency: replace)' })) count(run, 'cancelled');
    }
  }

  /** One pass; returns when the next tick of any job is due (epoch ms) or null. */
  function pass(): number | null {
    const now = clock();
    const rows = store.services.list();
    const specs = new Map<string, JobSpec>();
    for (const row of rows) for (const job of jobsOf(row)) specs.set(jobKey(row.name, job.name), job);
    settleAll(now, new Map(rows.map((r) => [r.name, r])), specs);
    const active = store.jobs.listActive();
    let soonest: number | null = null;
    for (const row of rows) {
      for (const job of jobsOf(row)) {
        const key = jobKey(row.name, job.name);
        options.metrics?.known(key);
        try {
          const cursor = store.jobs.cursor(row.name, job.name);
          if (cursor === null) {
            // First sight: ticks before the job existed never run.
            store.jobs.commit({ service: row.name, job: job.name, from: null, to: now, ticks: [] });
            const next = nextTick(scheduleOf(job, options.allowSeconds), now);
            if (next !== null && (soonest === null || next < soonest)) soonest = next;
            continue;
          }
          const running = active.filter((r) => r.service === row.name && r.job === job.name).map((r) => ({ id: r.id, tick: r.scheduledMs }));
          const decision = decideDue(job, cursor, running, now, options.allowSeconds);
          if (decision.nextAt !== null && (soonest === null || decision.nextAt < soonest)) soonest = decision.nextAt;
          if (decision.ticks.length === 0) continue;
          replaceRuns(decision.replace, now);
          const ticks = decision.ticks.map((t) => t.start
            ? { tick: t.tick, start: enqueueInput(row, job, t.tick) }
            : { tick: t.tick, reason: t.reason === 'missed' ? 'missed (no control plane was running, or it was too late to start)' : 'the previous run was still going (concurrency: forbid)' });
          const written = store.jobs.commit({ service: row.name, job: job.name, from: cursor, to: decision.cursor, ticks });
          for (const r of written) if (r.state === 'skipped') count(r, 'skipped');
          if (decision.uncounted > 0) options.metrics?.runsTotal.inc({ job: key, result: 'skipped' }, decision.uncounted);
          store.jobs.prune(row.name, job.name, job.history);
        } catch (error) {
          // A lost race (another scheduler moved the cursor) is harmless: that one wrote the ticks.
          if (!(isForgeError(error) && error.code === 'E_CONFLICT')) log(`job ${key}: ${(error as Error).message}`);
        }
      }
    }
    return soonest;
  }

  function schedule(next: number | null): void {
    if (stopped) return;
    const wait = next === null ? intervalMs : Math.max(0, Math.min(intervalMs, next - clock()));
    timer = setTimeout(runPass, wait);
  }

  function runPass(): void {
    if (stopped) return;
    let next: number | null = null;
    try {
      next = pass();
    } catch (error) {
      log(`job scheduler pass failed: ${(error as Error).message}`);
    }
    schedule(next);
  }

  return {
    pass,
    start(): void {
      if (!stopped) return;
      stopped = false;
      timer = setTimeout(runPass, 0);
    },
    /** Passes are synchronous, so none is half done when this returns. */
    stop(): void {
      stopped = true;
      clearTimeout(timer);
    },
    /**
     * Starts a run of `service/job` now, outside the schedule (the cursor stays). The job's
     * `concurrency` applies: under `forbid` a run still going makes this E_CONFLICT.
     */
    trigger(service: string, jobName: string): JobRunRow {
      const row = store.services.get(service);
      const job = row?.spec.jobs?.find((j) => j.name === jobName);
      if (!row || !job) throw new ForgeError('E_NOT_FOUND', `no job ${jobKey(service, jobName)}`);
      const now = clock();
      const running = store.jobs.listActive().filter((r) => r.service === service && r.job === jobName);
      if (running.length > 0 && job.concurrency === 'forbid') {
        throw new ForgeError('E_CONFLICT', `job ${jobKey(service, jobName)} has a run still going (${running[0]!.id}) and its concurrency is forbid`);
      }
      if (job.concurrency === 'replace') replaceRuns(running.map((r) => r.id), now);
      const cursor = store.jobs.cursor(service, jobName);
      const [run] = store.jobs.commit({ service, job: jobName, from: cursor, to: cursor ?? now, ticks: [{ tick: now, start: enqueueInput(row, job, now) }], trigger: 'manual' });
      return run!;
    },
  };
}

export type JobScheduler = ReturnType<typeof createJobScheduler>;
