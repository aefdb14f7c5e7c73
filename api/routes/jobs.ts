// Cron jobs over the API (admin auth, like every /api route):
//   GET  /api/v1/jobs?service=SVC                 each job with its next and last runs
//   GET  /api/v1/jobs/:service/:job/runs?limit=N  a job's runs, newest first
//   POST /api/v1/jobs/:service/:job/trigger       starts a run now (202), E_CONFLICT under `forbid` with one going

import type { FastifyInstance } from 'fastify';
import { ForgeError } from '../../errors/index.ts';
import { scheduleOf } from '../../reconciler/jobs/due.ts';
import { nextTick } from '../../specs/cron.ts';
import type { JobSpec } from '../../specs/types.ts';
import type { JobRunRow, Store } from '../../store/index.ts';
import type { ApiContext } from '../context.ts';

const at = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

export function renderRun(run: JobRunRow) {
  return {
    id: run.id, job: `${run.service}/${run.job}`, scheduledAt: at(run.scheduledMs), trigger: run.trigger, state: run.state,
    startedAt: at(run.startedMs), endedAt: at(run.endedMs), exitCode: run.exitCode, reason: run.reason,
    logs: run.logInstance === null ? null : { service: run.service, instance: run.logInstance },
  };
}

function renderJob(store: Store, service: string, job: JobSpec, now: number, allowSeconds: boolean) {
  const cursor = store.jobs.cursor(service, job.name);
  let nextRunAt: string | null = null;
  try { nextRunAt = at(nextTick(scheduleOf(job, allowSeconds), Math.max(cursor ?? now, now))); } catch { /* a schedule only valid with test seconds */ }
  const [last] = store.jobs.list(service, job.name, 1);
  return {
    name: `${service}/${job.name}`, service, job: job.name, schedule: job.schedule, timezone: job.timezone, command: job.command,
    timeoutMs: job.timeoutMs, concurrency: job.concurrency, missed: job.missed, history: job.history,
    nextRunAt, lastRun: last ? renderRun(last) : null, lastSuccessAt: at(store.jobs.last(service, job.name, 'succeeded')?.scheduledMs ?? null),
  };
}

const params = {
  type: 'object', additionalProperties: false, required: ['service', 'job'],
  properties: { service: { type: 'string', minLength: 1, maxLength: 63 }, job: { type: 'string', minLength: 1, maxLength: 63 } },
} as const;

export function registerJobRoutes(app: FastifyInstance, ctx: ApiContext, allowSeconds = false): void {
  const findJob = (service: string, name: string): JobSpec => {
    const row = ctx.store.services.get(service);
    if (!row) throw new ForgeError('E_NOT_FOUND', `no service ${service}`);
    const job = row.spec.jobs?.find((j) => j.name === name);
    if (!job) throw new ForgeError('E_NOT_FOUND', `service ${service} has no job ${name}${row.spec.jobs?.length ? ` (it has ${row.spec.jobs.map((j) => j.name).join(', ')})` : ''}`);
    return job;
  };

  app.get<{ Querystring: { service?: string } }>('/api/v1/jobs', {
    schema: { querystring: { type: 'object', additionalProperties: false, properties: { service: { type: 'string', minLength: 1, maxLength: 63 } } } },
  }, async (request) => {
    const wanted = request.query.service;
    if (wanted !== undefined && !ctx.store.services.get(wanted)) throw new ForgeError('E_NOT_FOUND', `no service ${wanted}`);
    const rows = ctx.store.services.list().filter((r) => wanted === undefined || r.name === wanted);
    const now = ctx.now();
    return { jobs: rows.flatMap((r) => (r.spec.jobs ?? []).map((j) => renderJob(ctx.store, r.name, j, now, allowSeconds))) };
  });

  app.get<{ Params: { service: string; job: string }; Querystring: { limit?: number } }>('/api/v1/jobs/:service/:job/runs', {
    schema: { params, querystring: { type: 'object', additionalProperties: false, properties: { limit: { type: 'integer', minimum: 1, maximum: 1000 } } } },
  }, async (request) => {
    const { service, job } = request.params;
    findJob(service, job);
    return { runs: ctx.store.jobs.list(service, job, request.query.limit ?? 50).map(renderRun) };
  });

  app.post<{ Params: { service: string; job: string } }>('/api/v1/jobs/:service/:job/trigger', { schema: { params } }, async (request, reply) => {
    const { service, job } = request.params;
    findJob(service, job);
    if (!ctx.jobs) throw new ForgeError('E_CONFLICT', 'this control plane runs no job scheduler');
    if (ctx.store.services.get(service)?.state !== 'running') throw new ForgeError('E_CONFLICT', `service ${service} is stopped: start it before triggering its jobs`);
    const run = ctx.jobs.trigger(service, job);
    return reply.code(202).send({ run: renderRun(run) });
  });
}
