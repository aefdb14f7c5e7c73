// The reconciler's Prometheus metrics. Served later by the API's /metrics; every
// label value is initialized at start so dashboards and alerts see zeros instead
// of missing series.

import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export const RECONCILE_RESULTS = ['success', 'noop', 'error', 'terminal'] as const;
export const DEPLOYMENT_STATUSES = ['succeeded', 'failed'] as const;
export const TASK_STATUSES = ['queued', 'succeeded', 'failed', 'cancelled', 'expired'] as const;

export type ReconcileResult = (typeof RECONCILE_RESULTS)[number];

export interface ReconcilerMetrics {
  registry: Registry;
  reconcileTotal: Counter<'result'>;
  reconcileDuration: Histogram<string>;
  queueDepth: Gauge<string>;
  deploymentsTotal: Counter<'status'>;
  tasksTotal: Counter<'status'>;
}

export function createReconcilerMetrics(registry: Registry = new Registry()): ReconcilerMetrics {
  const reconcileTotal = new Counter({
    name: 'forge_reconcile_total',
    help: 'Reconcile passes of one service, by result.',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  const reconcileDuration = new Histogram({
    name: 'forge_reconcile_duration_seconds',
    help: 'Time one service reconcile took, including provider calls.',
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60],
    registers: [registry],
  });
  const queueDepth = new Gauge({
    name: 'forge_queue_depth',
    help: 'Service keys waiting in the reconcile queue.',
    registers: [registry],
  });
  const deploymentsTotal = new Counter({
    name: 'forge_deployments_total',
    help: 'Releases that finished, by outcome.',
    labelNames: ['status'] as const,
    registers: [registry],
  });
  const tasksTotal = new Counter({
    name: 'forge_tasks_total',
    help: 'Agent tasks by final status.',
    labelNames: ['status'] as const,
    registers: [registry],
  });
  for (const result of RECONCILE_RESULTS) reconcileTotal.inc({ result }, 0);
  for (const status of DEPLOYMENT_STATUSES) deploymentsTotal.inc({ status }, 0);
  for (const status of TASK_STATUSES) tasksTotal.inc({ status }, 0);
  queueDepth.set(0);
  return { registry, reconcileTotal, reconcileDuration, queueDepth, deploymentsTotal, tasksTotal };
}
