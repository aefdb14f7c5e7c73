// Pure: everything one reconcile pass decides for one key, as data. The controller
// reads the inputs, executes `actions` through the provider, sets `route`, writes
// `status`, `events` and `releaseOutcome`, keeps `memory` for the next pass and
// hands `requeueAfterMs` to the loop. Nothing here reads a clock or does I/O:
// `now` comes in, so a test asserts a whole plan as a value.
//
// Draining is a plan, not a wait: a pass that would remove an instance still in
// the route takes it out of the route, remembers when (memory.drain) and asks to
// be looked at again after the drain time; the pass after that removes it.

import type { Action, Desired, Observed, ProviderCapabilities } from '../providers/types.ts';
import { ForgeError, isSpecCaused } from '../errors/index.ts';
import type { EventInput } from '../store/index.ts';
import type { StatusRow } from '../store/types.ts';
import { diff, earlierReleaseRunning, isNoop, RETRY_HINT } from './diff.ts';
import { assess, type Verdict } from './assess.ts';
import { chooseUpstreams } from './upstreams.ts';
import { crashWait, type CrashBackoffPolicy, type CrashCount } from './crash-backoff.ts';
import { planStatus, type PlannedStatus, type StatusContext } from './plan-status.ts';
import { releasePhaseOfActions, releasePhaseOfRecord, type ReleaseCommandStep, type ReleaseCommandView } from './release-phase.ts';

/** What the controller keeps per key between passes (in memory: a restart only re-drains). */
export interface PlanMemory {
  /** Replacements of crashed instances it counted itself (providers that do not count). */
  crash?: CrashCount;
  /** Instances taken out of the route at `since`, waiting for in-flight requests. */
  drain?: { leaving: string[]; since: number };
  /** The release rolled out stop-then-start because no agent had room beside the old one. */
  surgeBlocked?: { hash: string; reason: string };
}

export interface ReleaseView {
  outcome: 'pending' | 'succeeded' | 'failed';
  reason: string | null;
}

export interface PlanInput {
  desired: Desired;
  observed: Observed | null;
  /** The status row as stored now. */
  status: StatusRow | null;
  /** The release row of the desired generation, if recorded. */
  release: ReleaseView | null;
  /** The desired hash already failed (in this or an earlier generation) and never succeeded. */
  releaseBad: boolean;
  /** The stored run of the desired generation's release command (release-phase.ts); absent: none. */
  releaseCommand?: ReleaseCommandView | null;
  memory: PlanMemory;
  /** The serving provider's capabilities; null when that provider is not configured. */
  capabilities: ProviderCapabilities | null;
  /** Whether Forge's own router runs (services with `routing: 'forge'` are routed by it). */
  router: boolean;
  /** The router's URL for this service, when it routes it. */
  routeUrl: string | null;
  now: number;
  pollMs: number;
  drainMs: number;
  crashBackoff?: CrashBackoffPolicy;
}

export interface Route {
  domains: string[];
  upstreams: string[];
}

export interface ReleaseOutcome {
  outcome: 'failed' | 'succeeded';
  reason: string | null;
  /** Counted in forge_releases_total (a refusal of an already-failed release is not a new failure). */
  counted: boolean;
}

export interface Plan {
  result: 'success' | 'noop' | 'error' | 'terminal';
  /** Every remote object is gone: remove the row and its route. */
  deleteService: boolean;
  /** Record the release row before acting, so a crash mid-deploy still has it. */
  recordRelease: boolean;
  /** Executed in order; a failure stops the rest (see planFailure). */
  actions: Action[];
  /** Set before the actions run (null: leave the route as it is). */
  route: Route | null;
  /** Recompute the route from what is observed after the actions ran (routeAfter). */
  rerouteAfter: boolean;
  /** Instances leaving the route while the actions run: a resync must not route them again. */
  draining: string[];
  releaseOutcome: ReleaseOutcome | null;
  status: PlannedStatus | null;
  /** Events appended whatever the status does. */
  events: EventInput[];
  /** Events that repeat (a failure retried): folded into one counted row. */
  countedEvents: EventInput[];
  requeueAfterMs?: number;
  memory: PlanMemory;
  /** The desired release is bad (the loop's route table must not send traffic to it). */
  badHash: boolean;
  /** Run the release command (recorded as started first) instead of any rollout action. */
  releaseCommand: ReleaseCommandStep | null;
  /** A run recorded as started has no result: record it as "may have run" (never run again). */
  releaseCommandUnknown: string | null;
  verdict: Verdict;
  error?: ForgeError;
}

export function plan(input: PlanInput): Plan {
  const { desired, observed, now } = input;
  const memory: PlanMemory = { ...input.memory };
  if (memory.surgeBlocked?.hash !== desired.hash) delete memory.surgeBlocked;
  const recorded = releasePhaseOfRecord(desired, input.releaseCommand ?? null);
  const base = {
    deleteService: false, recordRelease: false, actions: [], route: null, rerouteAfter: false, draining: [], events: [] as EventInput[],
    countedEvents: [] as EventInput[], memory, releaseCommand: null,
    releaseCommandUnknown: recorded.kind === 'failed' && recorded.markUnknown ? recorded.reason : null,
  };

  if (!input.capabilities) {
    const error = new ForgeError('E_COMPUTE_NOT_CONFIGURED',
      `provider ${desired.spec.provider} is not configured on this control plane`, { terminal: true });
    const verdict: Verdict = { kind: 'refused', code: error.code, message: error.message };
    return { ...base, result: 'terminal', releaseOutcome: null, status: planStatus(statusContext(input, memory), verdict, error), badHash: input.releaseBad, verdict, error };
  }

  const release = decideRelease(input, recorded.kind === 'failed' ? recorded.reason : null);
  const { badHash, events } = release;
  const actions = decideActions(input, badHash, memory);
  const verdict = withReleaseReason(assess(desired, observed, actions), badHash ? release.view : null);
  const status = (v: Verdict) => planStatus(statusContext(input, memory), v, null);
  const routed = routesHere(input);
  const routeNow = routed ? routeFor(desired, observed, badHash) : null;

  // The release phase: nothing of a new release starts (or is routed) before its command succeeded.
  const phase = recorded.kind !== 'clear' || input.releaseCommand ? recorded : releasePhaseOfActions(desired, actions, input.capabilities);
  if (phase.kind === 'unsupported') {
    const error = new ForgeError('E_SPEC_INVALID', phase.message, { terminal: true });
    const refused: Verdict = { kind: 'refused', code: error.code, message: error.message };
    return {
      ...base, events, result: 'terminal', route: routeNow, releaseOutcome: { outcome: 'failed', reason: phase.message, counted: false },
      status: planStatus(statusContext(input, memory), refused, error), badHash, verdict: refused, error,
    };
  }
  if (phase.kind === 'run' || phase.kind === 'running') {
    const message = phase.kind === 'run' ? `running the release command of generation ${desired.generation} before any instance of it starts` : phase.message;
    const holding: Verdict = { kind: 'progress', fresh: (observed?.instances.length ?? 0) === 0, message };
    return {
      ...base, events, result: phase.kind === 'run' ? 'success' : 'noop', recordRelease: true, route: routeNow, releaseOutcome: null,
      status: status(holding), badHash, verdict: holding, releaseCommand: phase.kind === 'run' ? phase.step : null,
      requeueAfterMs: phase.kind === 'run' ? 0 : input.pollMs,
    };
  }

  if (verdict.kind === 'deleting' && verdict.gone) {
    return { ...base, events, result: 'success', deleteService: true, releaseOutcome: release.outcome, status: null, badHash, verdict };
  }
  if (verdict.kind === 'refused') {
    const outcome = badHash ? release.outcome : { outcome: 'failed' as const, reason: verdict.message, counted: false };
    return { ...base, events, result: 'terminal', route: routeNow, releaseOutcome: outcome, status: status(verdict), badHash, verdict };
  }
  if (verdict.kind !== 'progress' && verdict.kind !== 'deleting') {
    const outcome = verdict.kind === 'ready' && release.view?.outcome === 'pending'
      ? { outcome: 'succeeded' as const, reason: null, counted: true } : release.outcome;
    return {
      ...base, events, result: 'noop', route: routeNow, releaseOutcome: outcome, status: status(verdict), badHash, verdict,
      ...(verdict.kind === 'waiting' ? { requeueAfterMs: input.pollMs } : {}),
    };
  }

  // A crashed instance of a release that already ran is restarted with growing delays.
  const crash = decideCrashWait(input, actions, memory);
  if (crash.waitMs > 0) {
    const waiting: Verdict = { kind: 'waiting', reason: 'CrashLoopBackOff', message: crash.message ?? 'CrashLoopBackOff' };
    return { ...base, events, result: 'noop', releaseOutcome: release.outcome, status: status(waiting), requeueAfterMs: crash.waitMs, badHash, verdict };
  }

  const work = actions.filter((a) => a.kind !== 'noop');
  const acting = {
    ...base, events, result: 'success' as const, recordRelease: !desired.deleting, releaseOutcome: release.outcome,
    status: status(verdict), badHash, verdict,
  };
  const leaving = routed ? routedLeaving(work, observed) : [];
  if (leaving.length === 0) {
    delete memory.drain;
    return { ...acting, actions: work, rerouteAfter: routed, requeueAfterMs: input.pollMs };
  }
  // Before a routed instance is stopped or destroyed it leaves the route, then gets the
  // drain time for requests in flight. If the router cannot be told, nothing is stopped.
  const route = routeFor(desired, observed, badHash, new Set(leaving));
  const drain = memory.drain;
  const covered = drain !== undefined && leaving.every((id) => drain.leaving.includes(id));
  if (input.drainMs > 0 && !covered) {
    memory.drain = { leaving, since: now };
    return { ...acting, route, draining: leaving, requeueAfterMs: input.drainMs };
  }
  if (input.drainMs > 0 && now < drain!.since + input.drainMs) {
    return { ...acting, route, draining: drain!.leaving, requeueAfterMs: drain!.since + input.drainMs - now };
  }
  delete memory.drain;
  return { ...acting, actions: work, route, rerouteAfter: true, draining: leaving, requeueAfterMs: input.pollMs };
}

/** The route once the actions ran: it follows what is left now, not what was there before. */
export function routeAfter(input: PlanInput, planned: Plan, after: Observed | null): Route | null {
  return planned.rerouteAfter ? routeFor(input.desired, after, planned.badHash) : null;
}

/** What a failed action changes: a retry, a terminal failure, or a stop-then-start rollout. */
export function planFailure(input: PlanInput, planned: Plan, thrown: ForgeError, action: Action | undefined, current: StatusRow | null): Plan {
  const { desired } = input;
  const memory: PlanMemory = { ...planned.memory };
  const ctx = { ...statusContext(input, memory), previous: current };
  const shortage = surgeShortage(thrown, action, input.observed);
  if (shortage !== undefined && !desired.deleting) {
    // No room beside the old instance: roll out stop-then-start from the next pass on.
    memory.surgeBlocked = { hash: desired.hash, reason: shortage };
    return {
      ...planned, actions: [], route: null, rerouteAfter: false, releaseOutcome: null, memory, result: 'success', requeueAfterMs: 0,
      events: [], countedEvents: [{ type: 'Warning', reason: 'NoRoomToSurge', message: `${thrown.code}: ${thrown.message}; replacing stop-then-start` }],
      status: planStatus({ ...ctx, surgeBlocked: memory.surgeBlocked }, planned.verdict, null),
    };
  }
  // Only a failure the spec itself causes makes the release bad; a missing key, token or
  // isolation is fixed outside the spec and must not block this spec afterwards.
  const badRelease = thrown.terminal && thrown.specCaused;
  const { requeueAfterMs: _requeue, ...rest } = planned;
  void _requeue;
  return {
    ...rest, actions: [], route: null, rerouteAfter: false, memory, error: thrown,
    result: thrown.terminal ? 'terminal' : 'error',
    events: [], countedEvents: [{ type: 'Warning', reason: 'ActionFailed', message: `${thrown.code}: ${thrown.message}` }],
    releaseOutcome: badRelease ? { outcome: 'failed', reason: thrown.message, counted: true } : null,
    status: planStatus(ctx, planned.verdict, thrown),
  };
}

/**
 * Whether a pass for this key would do anything: the loop's resync asks this instead of
 * reconciling every key. The same action decision as plan(), from the loop's cached inputs.
 */
export function needsPass(input: {
  desired: Desired; observed: Observed | undefined; capabilities: ProviderCapabilities | null; releaseBad: boolean; now: number;
  status: { phase: StatusRow['phase']; observedGeneration: number; errorCode: string | undefined };
}): boolean {
  const { desired, status, observed, releaseBad } = input;
  if (!input.capabilities) return status.errorCode !== 'E_COMPUTE_NOT_CONFIGURED';
  // Spec-caused failures wait for a change of the desired row.
  if (status.phase === 'failed' && status.observedGeneration !== desired.generation && isSpecCaused(status.errorCode)) return false;
  if (!observed) return !(desired.spec.replicas === 0 && status.observedGeneration === desired.generation);
  const actions = diff(desired, observed, input.capabilities, input.now, releaseBad ? { badHashes: new Set([desired.hash]) } : undefined);
  if (!isNoop(actions)) return true;
  if (releaseBad) return status.phase !== 'failed';
  const settledPhase = desired.state === 'stopped' ? 'stopped' : 'running';
  if (status.phase !== settledPhase || status.observedGeneration !== desired.generation) return true;
  return observed.instances.some((i) => i.state !== settledPhase || i.health === 'unhealthy');
}

/** Whether this service's traffic goes through Forge's router. */
export function routesHere(input: Pick<PlanInput, 'router' | 'capabilities'>): boolean {
  return input.router && input.capabilities?.routing === 'forge';
}

export function routeFor(desired: Desired, observed: Observed | null, badHash: boolean, excluding?: ReadonlySet<string>): Route {
  const { upstreams } = chooseUpstreams(desired, observed, { badRelease: badHash, ...(excluding ? { excluding } : {}) });
  return { domains: desired.spec.domains, upstreams };
}

function statusContext(input: PlanInput, memory: PlanMemory): StatusContext {
  const { desired } = input;
  return {
    name: desired.key, generation: desired.generation, state: desired.state, hash: desired.hash,
    previous: input.status, observed: input.observed, routeUrl: routesHere(input) ? input.routeUrl : null,
    surgeBlocked: memory.surgeBlocked, now: input.now,
  };
}

/**
 * The release's fate from what is observed: once every replica of the desired release is
 * ready it has succeeded (a later crash is a crash to restart, not a reason to fall back
 * to a release about to be gone); a current-release instance that failed before that
 * marks it bad.
 */
function decideRelease(input: PlanInput, commandFailed: string | null): { badHash: boolean; view: ReleaseView | null; outcome: ReleaseOutcome | null; events: EventInput[] } {
  const { desired, observed, release } = input;
  if (input.releaseBad || desired.deleting || release?.outcome !== 'pending') {
    return { badHash: input.releaseBad, view: release, outcome: null, events: [] };
  }
  if (commandFailed !== null) return failedRelease(input, commandFailed, 'ReleaseCommandFailed');
  if (observed && everyReplicaReady(desired, observed)) {
    return { badHash: false, view: { outcome: 'succeeded', reason: null }, outcome: { outcome: 'succeeded', reason: null, counted: true }, events: [] };
  }
  const failed = observed?.instances.find((i) => i.hash === desired.hash && i.state === 'failed');
  if (!failed) return { badHash: false, view: release, outcome: null, events: [] };
  return failedRelease(input, failed.reason ?? `instance ${failed.id} failed`, 'ReleaseFailed');
}

type ReleaseDecision = { badHash: boolean; view: ReleaseView | null; outcome: ReleaseOutcome | null; events: EventInput[] };

function failedRelease(input: PlanInput, reason: string, event: string): ReleaseDecision {
  const { desired, observed } = input;
  // "The previous release keeps serving" holds only while one runs (not for a first release).
  const after = earlierReleaseRunning(desired.hash, observed?.instances ?? [])
    ? 'the previous release keeps serving' : `no earlier release is running: ${RETRY_HINT(desired.key)}`;
  return {
    badHash: true,
    view: { outcome: 'failed', reason },
    outcome: { outcome: 'failed', reason, counted: true },
    events: [{ type: 'Warning' as const, reason: event, message: `generation ${desired.generation} failed: ${reason}; ${after}` }],
  };
}

function decideActions(input: PlanInput, badHash: boolean, memory: PlanMemory): Action[] {
  const { desired, observed, now } = input;
  return diff(desired, observed, input.capabilities!, now, {
    ...(badHash ? { badHashes: new Set([desired.hash]) } : {}),
    ...(memory.surgeBlocked ? { surgeBlocked: memory.surgeBlocked.reason } : {}),
  });
}

function decideCrashWait(input: PlanInput, actions: readonly Action[], memory: PlanMemory) {
  const { desired, observed } = input;
  const replaced = new Set(actions.flatMap((a) => (a.kind === 'replace' ? [a.instanceId] : [])));
  // Only the desired release's crashes: a new release (the fix) replaces a crashing one at once.
  const crashed = observed?.instances.filter((i) => i.state === 'failed' && i.hash === desired.hash && replaced.has(i.id)) ?? [];
  if (crashed.length === 0 && observed?.instances.every((i) => i.state === 'running' && i.health === 'healthy')) delete memory.crash;
  const decision = crashWait(crashed, memory.crash, input.now, input.crashBackoff);
  if (decision.kept) memory.crash = decision.kept;
  return decision;
}

/** Ids of instances these actions stop or destroy that still take traffic. */
function routedLeaving(actions: readonly Action[], observed: Observed | null): string[] {
  if (!observed) return [];
  const leaving = new Set<string>();
  for (const action of actions) {
    if (action.kind === 'destroy' && !action.instanceId) observed.instances.forEach((i) => leaving.add(i.id));
    else if ((action.kind === 'destroy' || action.kind === 'stop') && action.instanceId) leaving.add(action.instanceId);
  }
  const routed = observed.instances.some((i) => leaving.has(i.id) && i.state === 'running' && i.health === 'healthy');
  return routed ? [...leaving].sort() : [];
}

function everyReplicaReady(desired: Desired, observed: Observed): boolean {
  const ready = observed.instances.filter((i) => i.hash === desired.hash && i.state === 'running' && i.health === 'healthy');
  return desired.state === 'running' && desired.spec.replicas > 0 && new Set(ready.map((i) => i.replica)).size >= desired.spec.replicas;
}

/**
 * A release refused because it already failed says why it failed (the health check's
 * answer, the exit code), not only that it did: that is what the operator reads.
 */
function withReleaseReason(verdict: Verdict, release: ReleaseView | null): Verdict {
  if (verdict.kind !== 'refused' || release?.outcome !== 'failed' || !release.reason) return verdict;
  return { ...verdict, message: `${release.reason}; ${verdict.message}` };
}

/**
 * What was short, when a replace could not start the new instance beside a live old one
 * (so stop-then-start would help); undefined for any other failure.
 */
function surgeShortage(error: ForgeError, action: Action | undefined, observed: Observed | null): string | undefined {
  if (error.code !== 'E_UNSCHEDULABLE' || action?.kind !== 'replace') return undefined;
  const old = observed?.instances.find((i) => i.id === action.instanceId);
  if (!old || old.state === 'failed' || old.state === 'stopped' || old.state === 'stopping' || old.health === 'unhealthy') return undefined;
  const reason = (error.details as { reason?: unknown } | undefined)?.reason;
  return typeof reason === 'string' ? reason : error.message;
}
