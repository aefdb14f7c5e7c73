// The pure step of a service's lifecycle machine (reconciler/lifecycle-machine.ts):
// persisted snapshot + event → next persisted snapshot and the effects to perform.
// No live actors and no timers (thousands of services must not each hold one): a
// pass sends TICK with its time, which fails a phase whose deadline passed.
// `advanceLifecycle` turns one reconcile verdict into the events it sends.
//
// Persisted snapshots are plain JSON (numbers and strings only in the context).

import { initialTransition, transition } from 'xstate';
import { ForgeError } from '../errors/index.ts';
import type { Phase } from '../store/types.ts';
import type { Verdict } from './assess.ts';
import {
  lifecycleGuards, lifecycleMachine, type LifecycleContext, type LifecycleEvent, type LifecycleInput, type LifecycleMachine,
  type LifecyclePhase, type MachinePhase,
} from './lifecycle-machine.ts';

export {
  lifecycleMachine, DEFAULT_DESTROY_TIMEOUT_MS, DEFAULT_PENDING_TIMEOUT_MS,
} from './lifecycle-machine.ts';
export type { LifecycleContext, LifecycleEvent, LifecycleInput, LifecyclePhase, MachinePhase };

/** What the status row should say now. */
export interface PhaseRecord {
  phase: MachinePhase;
  generation: number;
  reason: string | null;
  code: string | null;
  since: number;
}

/** An event row for a phase entry. */
export interface LifecycleEventRecord {
  type: 'Normal' | 'Warning';
  /** `PhaseRunning`, `PhaseFailed`, …: stable, for filtering. */
  reason: string;
  message: string;
  time: number;
}

export interface PersistedLifecycle {
  status: string;
  value: MachinePhase;
  context: LifecycleContext;
  [key: string]: unknown;
}

export type LifecycleEffect =
  | { kind: 'recordPhase'; record: PhaseRecord }
  | { kind: 'emitEvent'; event: LifecycleEventRecord };

const PHASES: ReadonlySet<string> = new Set(['creating', 'deploying', 'running', 'stopped', 'failed', 'destroying', 'destroyed']);

/** The phase of a persisted snapshot. */
export function phaseOf(snapshot: { value: unknown }): MachinePhase {
  const value = snapshot.value;
  if (typeof value === 'string' && PHASES.has(value)) return value as MachinePhase;
  throw new ForgeError('E_STORE', `lifecycle snapshot has an unknown phase: ${JSON.stringify(value)}`);
}

/** The persisted snapshot of a new lifecycle, with the effects of entering `creating`. */
export function initialLifecycle(input: LifecycleInput): { persisted: PersistedLifecycle; effects: LifecycleEffect[] } {
  const [snapshot, actions] = initialTransition(lifecycleMachine, input);
  return { persisted: persist(snapshot), effects: effectsOf(actions, snapshot.context) };
}

/**
 * One event applied to a persisted snapshot. Unknown or refused events (START while
 * destroying, a stale DEPLOY) leave it unchanged with no effects.
 */
export function stepLifecycle(persisted: unknown, event: LifecycleEvent): { persisted: PersistedLifecycle; phase: MachinePhase; effects: LifecycleEffect[] } {
  const parsed = parsePersisted(persisted);
  if (isIgnored(parsed, event)) return { persisted: parsed, phase: parsed.value, effects: [] };
  const current = lifecycleMachine.resolveState({ value: parsed.value, context: parsed.context });
  const [next, actions] = transition(lifecycleMachine, current, event);
  return { persisted: persist(next), phase: phaseOf(next), effects: effectsOf(actions, next.context) };
}

/**
 * True when no transition of the current phase can take `event`: the phase does
 * not handle it, or every candidate's guard says no. Read from the machine's own
 * definition, so it cannot drift from it; saves a full xstate transition for the
 * common pass where nothing changes (a TICK before the deadline, the same DEPLOY).
 */
function isIgnored(parsed: PersistedLifecycle, event: LifecycleEvent): boolean {
  if (parsed.status !== 'active') return true;
  const candidates = lifecycleMachine.states[parsed.value]?.transitions.get(event.type);
  if (!candidates || candidates.length === 0) return true;
  return candidates.every((t) => {
    const name = typeof t.guard === 'string' ? t.guard : undefined;
    const guard = name !== undefined ? lifecycleGuards[name as keyof typeof lifecycleGuards] : undefined;
    return guard !== undefined && !guard({ context: parsed.context, event });
  });
}

function effectsOf(actions: ReadonlyArray<{ type: string; params?: unknown }>, context: LifecycleContext): LifecycleEffect[] {
  const out: LifecycleEffect[] = [];
  for (const action of actions) {
    const phase = (action.params as { phase?: MachinePhase } | undefined)?.phase;
    if (phase === undefined) continue;
    if (action.type === 'recordPhase') out.push({ kind: 'recordPhase', record: phaseRecord(phase, context) });
    if (action.type === 'emitEvent') out.push({ kind: 'emitEvent', event: eventRecord(phase, context) });
  }
  return out;
}

function phaseRecord(phase: MachinePhase, context: LifecycleContext): PhaseRecord {
  return { phase, generation: context.generation, reason: context.reason, code: context.code, since: context.since };
}

const DEFAULT_MESSAGES: Record<MachinePhase, (c: LifecycleContext) => string> = {
  creating: (c) => `creating generation ${c.generation}`,
  deploying: (c) => `deploying generation ${c.generation}`,
  running: (c) => `running generation ${c.generation}`,
  stopped: () => 'stopped: nothing runs until started',
  failed: () => 'failed',
  destroying: () => 'destroying every remote object',
  destroyed: () => 'every remote object is gone',
};

function eventRecord(phase: MachinePhase, context: LifecycleContext): LifecycleEventRecord {
  return {
    type: phase === 'failed' ? 'Warning' : 'Normal',
    reason: `Phase${phase.charAt(0).toUpperCase()}${phase.slice(1)}`,
    message: context.reason ?? DEFAULT_MESSAGES[phase](context),
    time: context.since,
  };
}

function persist(snapshot: Parameters<LifecycleMachine['getPersistedSnapshot']>[0]): PersistedLifecycle {
  // A JSON round trip proves the claim that the store can hold it as text.
  return JSON.parse(JSON.stringify(lifecycleMachine.getPersistedSnapshot(snapshot))) as PersistedLifecycle;
}

function parsePersisted(value: unknown): PersistedLifecycle {
  const v = (typeof value === 'string' ? safeJson(value) : value) as Partial<PersistedLifecycle> | null;
  const c = v?.context as Partial<LifecycleContext> | undefined;
  const valid = v !== null && typeof v === 'object'
    && typeof v.value === 'string' && PHASES.has(v.value)
    && typeof v.status === 'string'
    && c !== undefined && c !== null
    && typeof c.generation === 'number' && typeof c.since === 'number'
    && typeof c.pendingTimeoutMs === 'number' && typeof c.destroyTimeoutMs === 'number'
    && (c.reason === null || typeof c.reason === 'string')
    && (c.code === null || typeof c.code === 'string');
  if (!valid) throw new ForgeError('E_STORE', 'the stored lifecycle snapshot is not readable; it will be recreated from the next reconcile', { details: { value } });
  return v as PersistedLifecycle;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

export interface LifecycleStep {
  snapshot: PersistedLifecycle;
  phase: Phase;
  /** Why the service is in its phase (the failure reason when failed). */
  reason: string | null;
  /** Phase entries this pass caused: appended to the service's events. */
  events: LifecycleEventRecord[];
}

/** The events one reconcile pass sends, from its verdict. */
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
