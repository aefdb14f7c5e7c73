// Cron job metrics. Run outcomes are counted as the scheduler sees them end; the time of each
// job's last success is read from the store at scrape time, so it survives a restart.

import { Counter, Gauge, type Registry } from 'prom-client';

export const JOB_RESULTS = ['succeeded', 'failed', 'skipped', 'lost', 'cancelled'] as const;
export type JobResult = (typeof JOB_RESULTS)[number];

export interface JobMetrics {
  runsTotal: Counter<'job' | 'result'>;
  /** Zeros for a job's every result, so alerts see a series before its first run. */
  known(job: string): void;
}

/** `lastSuccess()` lists each scheduled job (`SERVICE/JOB`) with its last success (epoch ms) or null. */
export function createJobMetrics(registry: Registry, lastSuccess: () => Array<{ job: string; atMs: number | null }>): JobMetrics {
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
      for (const { job, atMs } of lastSuccess()) this.set({ job }, atMs === null ? 0 : atMs / 1000);
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
