// Pure glue between a reconcile verdict and the lifecycle machine: which events a
// pass sends, applied to the persisted snapshot with no live actor (thousands of
// services must not each hold timers). The stuck-state timeouts are enforced by
// a TICK carrying the pass's time.

import type { ForgeError } from '../specs/errors.ts';
import type { Phase } from '../store/types.ts';
import type { Verdict } from './assess.ts';
import {
  initialLifecycle, stepLifecycle, type LifecycleEvent, type LifecycleEventRecord, type PersistedLifecycle,
} from './lifecycle.ts';

export interface LifecycleStep {
  snapshot: PersistedLifecycle;
  phase: Phase;
  /** Why the service is in its phase (the failure reason when failed). */
  reason: string | null;
  /** Phase entries this pass caused: appended to the service's events. */
  events: LifecycleEventRecord[];
}

export function lifecycleEvents(verdict: Verdict, desiredState: 'running' | 'stopped', generation: number, now: number, error: ForgeError | null): LifecycleEvent[] {
  const at = now;
  const events: LifecycleEvent[] = [{ type: 'TICK', at }, { type: 'DEPLOY', generation, at }];
  if (error?.terminal) return [...events, { type: 'FAIL', reason: error.message, code: error.code, at }];
  switch (verdict.kind) {
    case 'deleting':
      return verdict.gone ? [{ type: 'DELETE', at }, { type: 'GONE', at }] : [{ type: 'TICK', at }, { type: 'DELETE', at }];
    case 'refused':
      return [...events, { type: 'FAIL', reason: verdict.message, code: verdict.code, at }];
    case 'progress':
      return desiredState === 'stopped'
        ? [...events, { type: 'STOP', at }]
        : [...events, { type: 'START', at }, { type: 'PROGRESS', message: verdict.message, at }];
    case 'waiting':
      return events;
    case 'ready':
      return [...events, { type: 'SUCCEEDED', generation, at }];
    case 'stopped':
      return [...events, { type: 'STOPPED', at }];
  }
}

export function advanceLifecycle(
  persisted: unknown,
  verdict: Verdict,
  desiredState: 'running' | 'stopped',
  generation: number,
  now: number,
  error: ForgeError | null,
): LifecycleStep {
  const events: LifecycleEventRecord[] = [];
  let snapshot: PersistedLifecycle;
  if (persisted === null || persisted === undefined) {
    const initial = initialLifecycle({ generation, now });
    snapshot = initial.persisted;
    for (const effect of initial.effects) if (effect.kind === 'emitEvent') events.push(effect.event);
  } else {
    snapshot = persisted as PersistedLifecycle;
  }
  for (const event of lifecycleEvents(verdict, desiredState, generation, now, error)) {
    const step = stepLifecycle(snapshot, event);
    snapshot = step.persisted;
    for (const effect of step.effects) if (effect.kind === 'emitEvent') events.push(effect.event);
  }
  const value = snapshot.value;
  return {
    snapshot,
    phase: value === 'destroyed' ? 'destroying' : value,
    reason: snapshot.context.reason,
    events,
  };
}
