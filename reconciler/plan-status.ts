// Pure: the status row one pass writes, from the verdict, the previous row and the
// lifecycle machine. Conditions keep their transition times unless they flip.

import type { ForgeError } from '../errors/index.ts';
import type { EventInput } from '../store/index.ts';
import type { StatusRow } from '../store/types.ts';
import type { Observed } from '../providers/types.ts';
import type { Verdict } from './assess.ts';
import { advanceLifecycle, type LifecycleStep } from './lifecycle.ts';
import { removeCondition, setCondition } from './conditions.ts';

export interface StatusContext {
  name: string;
  generation: number;
  state: 'running' | 'stopped';
  hash: string;
  previous: StatusRow | null;
  observed: Observed | null;
  /** The router's URL of this service (forge-routed services); null otherwise. */
  routeUrl: string | null;
  /** Set while a release is rolled out stop-then-start for lack of room. */
  surgeBlocked: { hash: string; reason: string } | undefined;
  now: number;
}

export interface PlannedStatus {
  status: StatusRow;
  /** Phase entries of the lifecycle: appended only when the row actually changed. */
  events: EventInput[];
}

export function planStatus(ctx: StatusContext, verdict: Verdict, error: ForgeError | null): PlannedStatus {
  const { previous, now } = ctx;
  let life: LifecycleStep;
  try {
    life = advanceLifecycle(previous?.lifecycle ?? null, verdict, ctx.state, ctx.generation, now, error);
  } catch {
    // An unreadable snapshot is rebuilt from this pass rather than wedging the service.
    life = advanceLifecycle(null, verdict, ctx.state, ctx.generation, now, error);
  }
  const ready = verdict.kind === 'ready';
  let conditions = setCondition(previous?.conditions ?? [], {
    type: 'Ready', status: ready ? 'True' : 'False',
    reason: ready ? 'InstancesReady' : reasonOf(verdict, error), message: error?.message ?? verdict.message,
  }, now);
  const blocked = ctx.surgeBlocked;
  conditions = blocked?.hash === ctx.hash
    ? setCondition(conditions, {
      type: 'Rollout', status: 'True', reason: 'StopThenStart',
      message: `no agent has room for a new instance of ${ctx.name} beside the old one: ${blocked.reason}; ` +
        'replacing one replica at a time, each stopped before its replacement starts',
    }, now)
    : removeCondition(conditions, 'Rollout');
  const progressing = verdict.kind === 'progress' || verdict.kind === 'waiting';
  conditions = setCondition(conditions, {
    type: 'Progressing', status: progressing ? 'True' : 'False',
    reason: progressing ? 'Converging' : 'Settled', message: progressing ? verdict.message : '',
  }, now);
  const converged = verdict.kind === 'ready' || verdict.kind === 'stopped';
  const failure = error
    ? { code: error.code, message: error.message }
    : life.phase === 'failed' ? { code: life.snapshot.context.code ?? 'E_PROVIDER', message: life.reason ?? 'failed' } : null;
  const status: StatusRow = {
    name: ctx.name,
    phase: life.phase,
    observedGeneration: converged ? ctx.generation : (previous?.observedGeneration ?? 0),
    conditions,
    // The router knows where traffic really enters (scheme, caddy's port); a provider
    // behind Forge's router only knows the domain, so its URL lacks a dev listener's port.
    url: ctx.routeUrl ?? ctx.observed?.url ?? previous?.url ?? null,
    lastError: failure,
    lifecycle: life.snapshot,
    updatedAt: '',
  };
  return { status, events: life.events.map((e) => ({ type: e.type, reason: e.reason, message: e.message })) };
}

export function reasonOf(verdict: Verdict, error: ForgeError | null): string {
  if (error) return error.terminal ? 'Failed' : 'ProviderError';
  switch (verdict.kind) {
    case 'progress': return verdict.fresh ? 'Creating' : 'Deploying';
    case 'waiting': return verdict.reason ?? 'WaitingForInstances';
    case 'stopped': return 'Stopped';
    case 'refused': return 'Refused';
    case 'deleting': return 'Deleting';
    case 'ready': return 'InstancesReady';
  }
}
