// Pure health bookkeeping: consecutive-failure streaks and the sentence that
// explains an unhealthy verdict ("health check /health returned 503 three times").

import type { HealthSpec } from '../../specs/types.ts';

export type ProbeResult = { ok: true } | { ok: false; failure: string };

export interface HealthState {
  status: 'healthy' | 'unhealthy';
  /** Failures since the last success, oldest first (at most `retries` kept). */
  failures: string[];
}

export const INITIAL_HEALTH: HealthState = { status: 'healthy', failures: [] };

/** A success resets the streak; `retries` failures in a row flip to unhealthy. */
export function nextHealthState(state: HealthState, probe: ProbeResult, retries: number): HealthState {
  if (probe.ok) return { status: 'healthy', failures: [] };
  const failures = [...state.failures, probe.failure].slice(-Math.max(1, retries));
  const status = state.failures.length + 1 >= Math.max(1, retries) ? 'unhealthy' : state.status;
  return { status, failures };
}

export function timesWord(n: number): string {
  if (n === 1) return 'once';
  if (n === 2) return 'twice';
  if (n === 3) return 'three times';
  return `${n} times`;
}

export function probeTarget(health: HealthSpec): string {
  return health.type === 'tcp' ? 'tcp health check' : `health check ${health.path}`;
}

export function unhealthyReason(health: HealthSpec, failures: string[]): string {
  const last = failures[failures.length - 1] ?? 'failed';
  const same = failures.every((f) => f === last);
  if (same) return `${probeTarget(health)} ${last} ${timesWord(failures.length)}`;
  return `${probeTarget(health)} failed ${timesWord(failures.length)} in a row (last: ${last})`;
}

/** Between failed probes during start-up: the spec's interval, but no more than a second. */
export function startupRetryDelayMs(health: HealthSpec): number {
  return Math.min(health.intervalMs, 1_000);
}
