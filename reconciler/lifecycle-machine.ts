// The lifecycle machine of one service as an xstate v5 machine: the phase shown as its
// status, why it is there, and since when. It records status from each pass's verdict;
// it does not gate actions (reconciler/plan.ts decides what runs). Time comes in on
// every event (`at`, ms since the epoch): the machine never reads a clock and runs no
// timers; a stuck phase fails when a pass's TICK finds its deadline passed.
//
//   phase       leaves on                                        to
//   creating    SUCCEEDED / FAIL, timeout / STOP(PED) / DELETE     running / failed / stopped / destroying
//   deploying   SUCCEEDED / FAIL, timeout / STOP(PED) / DELETE     running / failed / stopped / destroying
//   running     DEPLOY (new generation), PROGRESS / FAIL / STOP(PED) / DELETE
//                                                                  deploying / failed / stopped / destroying
//   stopped     START / FAIL / DELETE                              deploying / failed / destroying
//   failed      SUCCEEDED / DEPLOY, START / STOP(PED) / DELETE     running / deploying / stopped / destroying
//   destroying  GONE / FAIL, timeout                               destroyed (final) / failed
// Anything else is refused (ignored): START, DEPLOY or STOP while destroying, a
// DEPLOY of a generation not newer than the current one, a stale SUCCEEDED.
//
// Effects (`recordPhase`, `emitEvent`) are named here with no-op defaults; the pure
// step (reconciler/lifecycle.ts) reads them off the transition. A persisted snapshot is plain JSON.

import { assign, setup } from 'xstate';
import { formatDuration } from './durations.ts';

export type LifecyclePhase = 'creating' | 'deploying' | 'running' | 'stopped' | 'failed' | 'destroying';
export type MachinePhase = LifecyclePhase | 'destroyed';

export interface LifecycleContext {
  /** The generation this lifecycle is working toward (or runs). */
  generation: number;
  /** Why the service is in its phase, in words a person can act on; null when there is nothing to say. */
  reason: string | null;
  /** Error code of a failure (E_TIMEOUT, E_HEALTH_FAILED, …); null unless failed. */
  code: string | null;
  /** When the current phase was entered (ms since the epoch). */
  since: number;
  pendingTimeoutMs: number;
  destroyTimeoutMs: number;
}

export interface LifecycleInput {
  generation: number;
  /** When the service was first seen: `since` of the initial `creating` phase. */
  now: number;
  /** How long `creating`/`deploying` may last before it counts as stuck (default 10 min). */
  pendingTimeoutMs?: number;
  /** How long `destroying` may last before it counts as stuck (default 5 min). */
  destroyTimeoutMs?: number;
}

type At = { at: number };
export type LifecycleEvent =
  | ({ type: 'DEPLOY'; generation: number } & At)
  | ({ type: 'PROGRESS'; message: string } & At)
  /** A reconcile converged: instances are healthy. A stale generation is ignored. */
  | ({ type: 'SUCCEEDED'; generation?: number } & At)
  /** A reconcile converged on a stopped service. */
  | ({ type: 'STOPPED' } & At)
  | ({ type: 'START' } & At)
  | ({ type: 'STOP' } & At)
  | ({ type: 'FAIL'; reason: string; code?: string } & At)
  | ({ type: 'DELETE' } & At)
  /** The provider confirmed every remote object is gone. */
  | ({ type: 'GONE' } & At)
  /** A pass's clock reading: fails a stuck phase whose deadline passed (the only timeout). */
  | ({ type: 'TICK' } & At);

export const DEFAULT_PENDING_TIMEOUT_MS = 10 * 60_000;
export const DEFAULT_DESTROY_TIMEOUT_MS = 5 * 60_000;

type PhaseParams = { phase: MachinePhase };

/** Effects every phase entry runs, in order: the status first, then the event. */
const enter = (phase: MachinePhase) => [
  { type: 'recordPhase', params: { phase } },
  { type: 'emitEvent', params: { phase } },
] as const;

/**
 * Guards as plain predicates, exported so the pure step can tell an ignored
 * event without running a whole transition (thousands of services per pass).
 */
export const lifecycleGuards = {
  isNewGeneration: ({ context, event }: GuardArgs) => event.type === 'DEPLOY' && event.generation > context.generation,
  isNotStale: ({ context, event }: GuardArgs) =>
    event.type !== 'SUCCEEDED' || event.generation === undefined || event.generation >= context.generation,
  pendingDeadlinePassed: ({ context, event }: GuardArgs) => event.at >= context.since + context.pendingTimeoutMs,
  destroyDeadlinePassed: ({ context, event }: GuardArgs) => event.at >= context.since + context.destroyTimeoutMs,
};
type GuardArgs = { context: LifecycleContext; event: LifecycleEvent };

export const lifecycleMachine = setup({
  types: {
    context: {} as LifecycleContext,
    events: {} as LifecycleEvent,
    input: {} as LifecycleInput,
  },
  actions: {
    /** Write the status row (phase, reason, since). Provided by the controller. */
    recordPhase: (_args, _params: PhaseParams) => {},
    /** Append an event row for a phase entry. Provided by the controller. */
    emitEvent: (_args, _params: PhaseParams) => {},
    /** `since` := the event's time (external events all carry `at`). */
    stampSince: assign({ since: ({ context, event }) => ('at' in event && typeof event.at === 'number' ? event.at : context.since) }),
    clearReason: assign({ reason: null, code: null }),
    takeGeneration: assign({
      generation: ({ context, event }) => (event.type === 'DEPLOY' ? event.generation : context.generation),
    }),
    takeProgress: assign({ reason: ({ context, event }) => (event.type === 'PROGRESS' ? event.message : context.reason) }),
    takeFailure: assign({
      reason: ({ event }) => (event.type === 'FAIL' ? event.reason : 'failed'),
      code: ({ event }) => (event.type === 'FAIL' ? event.code ?? 'E_INTERNAL' : 'E_INTERNAL'),
    }),
    // A stuck phase fails at its deadline: `since` is the deadline, whenever a TICK noticed.
    pendingTimedOut: assign(({ context }, params: { phase: 'creating' | 'deploying' }) => ({
      since: context.since + context.pendingTimeoutMs,
      code: 'E_TIMEOUT',
      reason: `${params.phase} did not finish within ${formatDuration(context.pendingTimeoutMs)}`,
    })),
    destroyTimedOut: assign({
      since: ({ context }) => context.since + context.destroyTimeoutMs,
      code: 'E_TIMEOUT',
      reason: ({ context }) => `destroy did not finish within ${formatDuration(context.destroyTimeoutMs)}`,
    }),
  },
  guards: lifecycleGuards,
}).createMachine({
  id: 'lifecycle',
  initial: 'creating',
  context: ({ input }) => ({
    generation: input.generation,
    reason: null,
    code: null,
    since: input.now,
    pendingTimeoutMs: input.pendingTimeoutMs ?? DEFAULT_PENDING_TIMEOUT_MS,
    destroyTimeoutMs: input.destroyTimeoutMs ?? DEFAULT_DESTROY_TIMEOUT_MS,
  }),
  // Only the very first start runs this: a restored actor does not re-enter.
  entry: [...enter('creating')],
  states: {
    creating: {
      on: {
        DEPLOY: { guard: 'isNewGeneration', target: 'creating', reenter: true, actions: ['takeGeneration', 'stampSince', ...enter('creating')] },
        PROGRESS: { actions: ['takeProgress', { type: 'recordPhase', params: { phase: 'creating' } }] },
        SUCCEEDED: { guard: 'isNotStale', target: 'running', actions: ['clearReason', 'stampSince', ...enter('running')] },
        STOP: { target: 'stopped', actions: ['clearReason', 'stampSince', ...enter('stopped')] },
        STOPPED: { target: 'stopped', actions: ['clearReason', 'stampSince', ...enter('stopped')] },
        FAIL: { target: 'failed', actions: ['takeFailure', 'stampSince', ...enter('failed')] },
        DELETE: { target: 'destroying', actions: ['clearReason', 'stampSince', ...enter('destroying')] },
        TICK: { guard: 'pendingDeadlinePassed', target: 'failed', actions: [{ type: 'pendingTimedOut', params: { phase: 'creating' } }, ...enter('failed')] },
      },
    },
    deploying: {
      on: {
        DEPLOY: { guard: 'isNewGeneration', target: 'deploying', reenter: true, actions: ['takeGeneration', 'stampSince', ...enter('deploying')] },
        PROGRESS: { actions: ['takeProgress', { type: 'recordPhase', params: { phase: 'deploying' } }] },
        SUCCEEDED: { guard: 'isNotStale', target: 'running', actions: ['clearReason', 'stampSince', ...enter('running')] },
        STOP: { target: 'stopped', actions: ['clearReason', 'stampSince', ...enter('stopped')] },
        STOPPED: { target: 'stopped', actions: ['clearReason', 'stampSince', ...enter('stopped')] },
        FAIL: { target: 'failed', actions: ['takeFailure', 'stampSince', ...enter('failed')] },
        DELETE: { target: 'destroying', actions: ['clearReason', 'stampSince', ...enter('destroying')] },
        TICK: { guard: 'pendingDeadlinePassed', target: 'failed', actions: [{ type: 'pendingTimedOut', params: { phase: 'deploying' } }, ...enter('failed')] },
      },
    },
    running: {
      on: {
        DEPLOY: { guard: 'isNewGeneration', target: 'deploying', actions: ['takeGeneration', 'clearReason', 'stampSince', ...enter('deploying')] },
        // Work while running is drift being repaired: show it as a rollout.
        PROGRESS: { target: 'deploying', actions: ['takeProgress', 'stampSince', ...enter('deploying')] },
        STOP: { target: 'stopped', actions: ['clearReason', 'stampSince', ...enter('stopped')] },
        STOPPED: { target: 'stopped', actions: ['clearReason', 'stampSince', ...enter('stopped')] },
        FAIL: { target: 'failed', actions: ['takeFailure', 'stampSince', ...enter('failed')] },
        DELETE: { target: 'destroying', actions: ['clearReason', 'stampSince', ...enter('destroying')] },
      },
    },
    stopped: {
      on: {
        // A new spec for a stopped service is recorded; it rolls out on START.
        DEPLOY: { guard: 'isNewGeneration', actions: ['takeGeneration', { type: 'recordPhase', params: { phase: 'stopped' } }] },
        START: { target: 'deploying', actions: ['clearReason', 'stampSince', ...enter('deploying')] },
        FAIL: { target: 'failed', actions: ['takeFailure', 'stampSince', ...enter('failed')] },
        DELETE: { target: 'destroying', actions: ['clearReason', 'stampSince', ...enter('destroying')] },
      },
    },
    failed: {
      on: {
        SUCCEEDED: { guard: 'isNotStale', target: 'running', actions: ['clearReason', 'stampSince', ...enter('running')] },
        DEPLOY: { guard: 'isNewGeneration', target: 'deploying', actions: ['takeGeneration', 'clearReason', 'stampSince', ...enter('deploying')] },
        START: { target: 'deploying', actions: ['clearReason', 'stampSince', ...enter('deploying')] },
        STOP: { target: 'stopped', actions: ['clearReason', 'stampSince', ...enter('stopped')] },
        STOPPED: { target: 'stopped', actions: ['clearReason', 'stampSince', ...enter('stopped')] },
        // A new reason for the same failure updates the status; the phase (and `since`) stay.
        FAIL: { actions: ['takeFailure', { type: 'recordPhase', params: { phase: 'failed' } }] },
        DELETE: { target: 'destroying', actions: ['clearReason', 'stampSince', ...enter('destroying')] },
      },
    },
    destroying: {
      on: {
        GONE: { target: 'destroyed', actions: ['clearReason', 'stampSince', ...enter('destroyed')] },
        FAIL: { target: 'failed', actions: ['takeFailure', 'stampSince', ...enter('failed')] },
        TICK: { guard: 'destroyDeadlinePassed', target: 'failed', actions: ['destroyTimedOut', ...enter('failed')] },
      },
    },
    destroyed: { type: 'final' },
  },
});

export type LifecycleMachine = typeof lifecycleMachine;
