// /metrics: the reconciler's registry plus process metrics, HTTP request
// durations by route pattern (never the raw URL: ids and names would explode the
// label set), and gauges computed from the store at scrape time.

import type { FastifyInstance } from 'fastify';
import { Gauge, Histogram, collectDefaultMetrics, type Registry } from 'prom-client';
import { ForgeError } from '../errors/index.ts';
import type { Store } from '../store/index.ts';
import type { DeploymentState, TaskState } from '../store/rows.ts';
import type { Phase } from '../store/types.ts';
import { constantTimeEqual } from './auth.ts';

export const PHASES: readonly Phase[] = ['pending', 'creating', 'deploying', 'running', 'stopped', 'failed', 'destroying'];
export const TASK_STATUSES: readonly TaskState[] = ['queued', 'claimed', 'running', 'succeeded', 'failed', 'cancelled'];
export const DEPLOYMENT_STATUSES: readonly DeploymentState[] = ['pending', 'building', 'deploying', 'running', 'failed'];

const MISNAMED_DEFAULTS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

const defaultsInstalled = new WeakSet<Registry>();

function once<T>(registry: Registry, name: string, make: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? make();
}

export interface ApiMetrics {
  httpDuration: Histogram<'method' | 'route' | 'status_code'>;
}

export function installApiMetrics(registry: Registry, store: Store): ApiMetrics {
  if (!defaultsInstalled.has(registry)) {
    defaultsInstalled.add(registry);
    collectDefaultMetrics({ register: registry });
    // prom-client names these gauges *_total, which promtool (rightly) rejects as counter-looking.
    for (const misnamed of MISNAMED_DEFAULTS) registry.removeSingleMetric(misnamed);
  }
  const httpDuration = once(registry, 'forge_http_request_duration_seconds', () => new Histogram({
    name: 'forge_http_request_duration_seconds',
    help: 'API request duration by method, route pattern and status code.',
    labelNames: ['method', 'route', 'status_code'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
    registers: [registry],
  }));
  once(registry, 'forge_agents_online', () => new Gauge({
    name: 'forge_agents_online',
    help: 'Worker agents currently online (read from the store at scrape).',
    registers: [registry],
    collect() {
      this.set(store.agents.list().filter((a) => a.online).length);
    },
  }));
  once(registry, 'forge_services', () => new Gauge({
    name: 'forge_services',
    help: 'Services by lifecycle phase (read from the store at scrape).',
    labelNames: ['phase'] as const,
    registers: [registry],
    collect() {
      const counts = new Map<Phase, number>(PHASES.map((p) => [p, 0]));
      const statuses = new Map(store.status.summaries().map((s) => [s.name, s.phase] as const));
      for (const summary of store.services.summaries()) {
        const phase: Phase = summary.deleting ? 'destroying' : (statuses.get(summary.name) ?? 'pending');
        counts.set(phase, (counts.get(phase) ?? 0) + 1);
      }
      for (const [phase, count] of counts) this.set({ phase }, count);
    },
  }));
  // Row counts by current status: gauges (they go down when a row moves on), so no `_total`.
  once(registry, 'forge_tasks', () => new Gauge({
    name: 'forge_tasks',
    help: 'Agent task rows (build, run and stop) by current status (read from the store at scrape).',
    labelNames: ['status'] as const,
    registers: [registry],
    collect() {
      const counts = store.tasks.countByState();
      for (const status of TASK_STATUSES) this.set({ status }, counts.get(status) ?? 0);
    },
  }));
  once(registry, 'forge_deployments', () => new Gauge({
    name: 'forge_deployments',
    help: 'Webhook deployment rows by current status (read from the store at scrape).',
    labelNames: ['status'] as const,
    registers: [registry],
    collect() {
      const counts = store.deployments.countByState();
      for (const status of DEPLOYMENT_STATUSES) this.set({ status }, counts.get(status) ?? 0);
    },
  }));
  return { httpDuration };
}

export function registerMetricsRoute(app: FastifyInstance, registry: Registry, token: string | undefined): void {
  app.get('/metrics', async (request, reply) => {
    if (token !== undefined) {
      const header = request.headers.authorization;
      const given = typeof header === 'string' && header.startsWith('Bearer ') ? header.slice(7) : '';
      if (!constantTimeEqual(given, token)) throw new ForgeError('E_UNAUTHORIZED', 'authentication required');
    }
    return reply.type(registry.contentType).send(await registry.metrics());
  });
}
