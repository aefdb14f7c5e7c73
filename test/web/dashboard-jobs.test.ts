// The dashboard's jobs table (web/jobs.js): next and last runs per job, as cells.

import { test } from 'node:test';
import assert from 'node:assert/strict';

interface JobsModule { jobRows(jobs: unknown[]): string[][] }
const jobs = (await import(new URL('../../web/jobs.js', import.meta.url).href)) as JobsModule;

test('jobs table: next run, last run with its exit code, last success; a job that never ran says so', () => {
  assert.deepEqual(jobs.jobRows([
    { job: 'report', schedule: '30 2 * * *', timezone: 'Europe/Berlin', nextRunAt: '2026-06-02T00:30:00.000Z',
      lastRun: { state: 'failed', exitCode: 3, scheduledAt: '2026-06-01T00:30:00.000Z' }, lastSuccessAt: '2026-05-31T00:30:00.000Z' },
    { job: 'tick', schedule: '@hourly', timezone: 'UTC', nextRunAt: '2026-06-01T11:00:00.000Z', lastRun: null, lastSuccessAt: null },
  ]), [
    ['report', '30 2 * * * (Europe/Berlin)', '2026-06-02 00:30:00Z', 'failed (exit 3) at 2026-06-01 00:30:00Z', '2026-05-31 00:30:00Z'],
    ['tick', '@hourly', '2026-06-01 11:00:00Z', 'never ran', '-'],
  ]);
});
