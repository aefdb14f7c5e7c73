// Cron job metrics. Run outcomes are counted as the scheduler sees them end; the time of each
// job's last success is read from the store at scrape time, so it survives a restart.

import { Counter, Gauge, type Registry } from 'prom-client';
import { nextTick } from '../../specs/cron.ts';
import type { Store } from '../../store/index.ts';
import { scheduleOf } from './due.ts';

export const JOB_RESULTS = ['succeeded', 'failed', 'skipped', 'lost', 'cancelled'] as const;
export type JobResult = (typeof JOB_RESULTS)[number];

export interface JobMetrics {
  runsTotal: Counter<'job' | 'result'>;
  /** Zeros for a job's every result, so alerts see a series before its first run. */
  known(job: string): void;
}

/** `lastSuccess()` lists each scheduled job (`SERVICE/JOB`) with its last success (epoch ms) or null. */
export interface JobSample {
  job: string;
  /** When its newest successful run was scheduled (epoch ms), or null. */
  atMs: number | null;
  /** Time between its next two ticks (ms), or null when it has no more. */
  intervalMs: number | null;
}

/** `sample()` lists each scheduled job (`SERVICE/JOB`), read at scrape time. */
export function createJobMetrics(registry: Registry, sample: () => JobSample[]): JobMetrics {
  const runsTotal = new Counter({
    name: 'forge_job_runs_total',
    help: 'Cron job runs that ended, by job (SERVICE/JOB) and result (skipped: a tick that did not start, by its policy).',
    labelNames: ['job', 'result'] as const,
    registers: [registry],
  });
  new Gauge({
    name: 'forge_job_last_success_timestamp_seconds',
    help: 'When the newest successful run of a cron job was scheduled (Unix seconds); 0 when it never succeeded.',
    labelNames: ['job'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const { job, atMs } of sample()) this.set({ job }, atMs === null ? 0 : atMs / 1000);
    },
  });
  // The expected window of the "has not succeeded" alert comes from the schedule itself.
  new Gauge({
    name: 'forge_job_interval_seconds',
    help: 'Seconds between a cron job\'s next two ticks (its expected time between runs).',
    labelNames: ['job'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const { job, intervalMs } of sample()) if (intervalMs !== null) this.set({ job }, intervalMs / 1000);
    },
  });
  const seen = new Set<string>();
  return {
    runsTotal,
    known(job) {
      if (seen.has(job)) return;
      seen.add(job);
      for (const result of JOB_RESULTS) runsTotal.inc({ job, result }, 0);
    },
  };
}

/** The samples of every job of every service, from the store. */
export function jobSamples(store: Store, now: number, allowSeconds: boolean): JobSample[] {
  return store.services.list().flatMap((row) => (row.spec.jobs ?? []).map((job) => {
    let intervalMs: number | null = null;
    try {
      const schedule = scheduleOf(job, allowSeconds);
      const a = nextTick(schedule, now);
      const b = a === null ? null : nextTick(schedule, a);
      intervalMs = a === null || b === null ? null : b - a;
    } catch { /* a schedule this process cannot read (test seconds): no interval */ }
    return { job: `${row.name}/${job.name}`, atMs: store.jobs.last(row.name, job.name, 'succeeded')?.scheduledMs ?? null, intervalMs };
  }));
}
