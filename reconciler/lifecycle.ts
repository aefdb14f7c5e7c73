// Running and restoring a service's lifecycle machine (reconciler/lifecycle-machine.ts).
//
// Two ways to use it:
//  - as an actor (createLifecycle / restoreLifecycle): timeouts run on the given
//    clock, effects are called as phases are entered;
//  - purely (initialLifecycle / stepLifecycle / nextPhase): persisted snapshot +
//    event → next persisted snapshot and the effects to perform, no timers. A
//    TICK event carrying the time fails a phase whose deadline passed. This is
//    what a controller holding thousands of services without live actors wants.
//
// Persisted snapshots are plain JSON (numbers and strings only in the context).

import { createActor, initialTransition, transition, type Actor } from 'xstate';
import { ForgeError } from '../specs/errors.ts';
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

export interface LifecycleEffects {
  recordPhase?: (record: PhaseRecord) => void;
  emitEvent?: (event: LifecycleEventRecord) => void;
}

/** The actor's timer source plus a reading of "now" (xstate's SimulatedClock fits). */
export interface LifecycleClock {
  // Same shape as xstate's (unexported) Clock, so its SimulatedClock fits.
  setTimeout(fn: (...args: any[]) => void, timeout: number): any;
  clearTimeout(id: any): void;
  now(): number;
}

export interface LifecycleOptions {
  clock?: LifecycleClock;
}

export type LifecycleActor = Actor<LifecycleMachine>;

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

/** Starts a new lifecycle in `creating`. */
export function createLifecycle(input: LifecycleInput, effects: LifecycleEffects = {}, options: LifecycleOptions = {}): LifecycleActor {
  const actor = createActor(withEffects(effects), { input, ...(options.clock ? { clock: options.clock } : {}) });
  actor.start();
  return actor;
}

/**
 * Resumes a lifecycle from a persisted snapshot (JSON from the store). Effects of
 * the phase already entered are not repeated; a stuck-able phase gets its
 * timeout back for whatever time is left (none left: it fails at once).
 */
export function restoreLifecycle(persisted: unknown, effects: LifecycleEffects = {}, options: LifecycleOptions = {}): LifecycleActor {
  const snapshot = parsePersisted(persisted);
  const actor = createActor(withEffects(effects), {
    snapshot: snapshot as never,
    // Required by the type, unused on restore: the context comes from the snapshot.
    input: { generation: snapshot.context.generation, now: snapshot.context.since },
    ...(options.clock ? { clock: options.clock } : {}),
  });
  actor.start();
  const now = options.clock ? options.clock.now() : Date.now();
  // A deadline that passed while nobody was running fails now, not one timer tick later.
  actor.send({ type: 'TICK', at: now });
  actor.send({ type: 'RESUME', at: now });
  return actor;
}

/** The phase of a live or persisted snapshot. */
export function phaseOf(snapshot: { value: unknown }): MachinePhase {
  const value = snapshot.value;
  if (typeof value === 'string' && PHASES.has(value)) return value as MachinePhase;
  throw new ForgeError('E_STORE', `lifecycle snapshot has an unknown phase: ${JSON.stringify(value)}`);
}

/** Pure: the persisted snapshot of a new lifecycle, with the effects of entering `creating`. */
export function initialLifecycle(input: LifecycleInput): { persisted: PersistedLifecycle; effects: LifecycleEffect[] } {
  const [snapshot, actions] = initialTransition(lifecycleMachine, input);
  return { persisted: persist(snapshot), effects: effectsOf(actions, snapshot.context) };
}

/**
 * Pure: one event applied to a persisted snapshot. Unknown or refused events
 * (START while destroying, a stale DEPLOY) leave it unchanged with no effects.
 */
export function stepLifecycle(persisted: unknown, event: LifecycleEvent): { persisted: PersistedLifecycle; phase: MachinePhase; effects: LifecycleEffect[] } {
  const parsed = parsePersisted(persisted);
  if (isIgnored(parsed, event)) return { persisted: parsed, phase: parsed.value, effects: [] };
  const current = lifecycleMachine.resolveState({ value: parsed.value, context: parsed.context });
  const [next, actions] = transition(lifecycleMachine, current, event);
  return { persisted: persist(next), phase: phaseOf(next), effects: effectsOf(actions, next.context) };
}

/** Pure: where `event` takes a lifecycle in `phase` (context defaults to generation 1 at time 0). */
export function nextPhase(phase: MachinePhase, event: LifecycleEvent, context: Partial<LifecycleContext> = {}): MachinePhase {
  const [initial] = initialTransition(lifecycleMachine, { generation: 1, now: 0 });
  const snapshot = lifecycleMachine.resolveState({ value: phase, context: { ...initial.context, ...context } });
  return phaseOf(transition(lifecycleMachine, snapshot, event)[0]);
}

/** True when the machine in this snapshot would act on `event` (a guard or the phase may refuse it). */
export function accepts(persisted: unknown, event: LifecycleEvent): boolean {
  const parsed = parsePersisted(persisted);
  return lifecycleMachine.resolveState({ value: parsed.value, context: parsed.context }).can(event);
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

function withEffects(effects: LifecycleEffects): LifecycleMachine {
  return lifecycleMachine.provide({
    actions: {
      recordPhase: ({ context }, params) => effects.recordPhase?.(phaseRecord(params.phase, context)),
      emitEvent: ({ context }, params) => effects.emitEvent?.(eventRecord(params.phase, context)),
    },
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
