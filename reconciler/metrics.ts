// The reconciler's Prometheus metrics. Served later by the API's /metrics; every
// label value is initialized at start so dashboards and alerts see zeros instead
// of missing series.

import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export const RECONCILE_RESULTS = ['success', 'noop', 'error', 'terminal'] as const;
export const RELEASE_OUTCOMES = ['succeeded', 'failed'] as const;

export type ReconcileResult = (typeof RECONCILE_RESULTS)[number];

export interface ReconcilerMetrics {
  registry: Registry;
  reconcileTotal: Counter<'result'>;
  reconcileDuration: Histogram<string>;
  queueDepth: Gauge<string>;
  /** Releases that finished, by outcome (was forge_deployments_total, which named it wrongly). */
  releasesTotal: Counter<'status'>;
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
  // Task and deployment rows by status are gauges read from the store (api/metrics.ts).
  const releasesTotal = new Counter({
    name: 'forge_releases_total',
    help: 'Releases that finished, by outcome.',
    labelNames: ['status'] as const,
    registers: [registry],
  });
  for (const result of RECONCILE_RESULTS) reconcileTotal.inc({ result }, 0);
  for (const status of RELEASE_OUTCOMES) releasesTotal.inc({ status }, 0);
  queueDepth.set(0);
  return { registry, reconcileTotal, reconcileDuration, queueDepth, releasesTotal };
}
