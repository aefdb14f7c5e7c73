// The service page's cron jobs table: pure, so the dashboard tests can check it without a browser.

/** "2026-06-01 10:01:00Z" from an ISO time, or "-". */
export function jobTime(iso) {
  return typeof iso === 'string' ? iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '-';
}

/**
 * One row of cells per job of `GET /api/v1/jobs?service=NAME`: name, schedule (with its zone),
 * next run, last run (state, exit code, scheduled time) and last success.
 * @param {Array<{ job: string, schedule: string, timezone: string, nextRunAt: string | null,
 *   lastRun: { state: string, exitCode: number | null, scheduledAt: string } | null, lastSuccessAt: string | null }>} jobs
 */
export function jobRows(jobs) {
  return jobs.map((j) => [
    j.job,
    j.timezone === 'UTC' ? j.schedule : `${j.schedule} (${j.timezone})`,
    jobTime(j.nextRunAt),
    j.lastRun === null ? 'never ran' : `${j.lastRun.state}${j.lastRun.exitCode === null ? '' : ` (exit ${j.lastRun.exitCode})`} at ${jobTime(j.lastRun.scheduledAt)}`,
    jobTime(j.lastSuccessAt),
  ]);
}
