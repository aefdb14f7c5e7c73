// One key's reconcile: read desired + observed, decide (diff, assess), act through
// the provider, record status and events. Level-triggered: nothing here depends
// on which event woke it up, so a missed event costs latency, never correctness.

import type { Action, Desired, Observed, Provider, ApplyResult } from '../providers/types.ts';
import { chooseUpstreams } from './upstreams.ts';
import type { ProviderName, ServiceSpec } from '../specs/types.ts';
import { ForgeError, toForgeError } from '../specs/errors.ts';
import type { Store } from '../store/index.ts';
import type { StatusRow, DesiredRow } from '../store/types.ts';
import { diff, earlierReleaseRunning, RETRY_HINT } from './diff.ts';
import { assess, type Verdict } from './assess.ts';
import { advanceLifecycle, type LifecycleStep } from './lifecycle-driver.ts';
import { removeCondition, setCondition } from './conditions.ts';
import { actionEvent } from './action-events.ts';
import type { ReconcilerMetrics } from './metrics.ts';
import { crashWait, type CrashBackoffPolicy, type CrashCount, type CrashWait } from './crash-backoff.ts';

export interface ControllerDeps {
  store: Store;
  /** The provider serving a given name, or undefined when it is not configured. */
  provider(name: ProviderName): Provider | undefined;
  /** Every configured provider: orphans are looked for in each. */
  providers(): Provider[];
  /** Decrypted secret values of one service (may throw E_SECRET_DECRYPT). */
  secretsFor(name: string): Record<string, string>;
  /**
   * Keyed digest of the secret values `spec` names, as stored now (api/secrets.ts). Without
   * it a changed value is not noticed on instances whose spec is unchanged.
   */
  secretsDigest?(name: string, spec: ServiceSpec): string;
  now(): number;
  metrics?: ReconcilerMetrics;
  /** How long to wait before looking again while instances converge. */
  pollMs?: number;
  /** Caddy's route table (agent services); absent when no router runs. */
  routes?: RouteTable;
  /** How long an instance stays out of the route before it is stopped (in-flight requests finish). */
  drainMs?: number;
  sleep?: (ms: number) => Promise<void>;
  /** Delays between replacements of a replica that keeps crashing (default 10 s doubling to 5 min). */
  crashBackoff?: CrashBackoffPolicy;
}

/** The part of router/service-routes.ts the controller uses. */
export interface RouteTable {
  /**
   * Resolves once Caddy routes by `route`: after a config push, or, with DNS upstreams,
   * once Caddy's refresh has passed since the new set was published. The drain timer
   * starts only then, so a stopped instance was out of Caddy's set for the whole drain.
   */
  set(name: string, route: { domains: string[]; upstreams: string[] }): Promise<void>;
  remove(name: string): Promise<void>;
  url(name: string): string;
}

export interface ReconcileOutcome {
  key: string;
  result: 'success' | 'noop' | 'error' | 'terminal';
  /** Look at this key again after this many ms (converging); undefined = only on the next nudge/resync. */
  requeueAfterMs?: number;
  error?: ForgeError;
  /** What the pass read, so the loop's no-op cache stays current without another query. */
  desired?: DesiredRow | null;
  badHash?: boolean;
  status?: StatusRow | null;
}

const DEFAULT_POLL_MS = 1_000;
const SPEC_CAUSED: ReadonlySet<string> = new Set(['E_SPEC_INVALID', 'E_BUILD_FAILED', 'E_HEALTH_FAILED', 'E_REGION_IMMUTABLE']);
const DEFAULT_DRAIN_MS = 2_000;

export function createController(deps: ControllerDeps) {
  const poll = deps.pollMs ?? DEFAULT_POLL_MS;
  const drainMs = deps.drainMs ?? DEFAULT_DRAIN_MS;
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const crashes = new Map<string, CrashCount>();
  // Instances taken out of the route and waiting to stop: the resync's route table
  // must leave them out too, or it would put them back during the drain.
  const draining = new Map<string, Set<string>>();
  // Releases whose new instances found no room beside the old ones: rolled out
  // stop-then-start (diff's surgeBlocked). Forgotten when the spec changes again.
  const surgeBlocked = new Map<string, { hash: string; reason: string }>();

  async function reconcileOrphan(key: string): Promise<ReconcileOutcome> {
    let destroyed = 0;
    for (const provider of deps.providers()) {
      const [observed] = await provider.observe([key]);
      if (!observed || observed.instances.length === 0) continue;
      await provider.apply({ kind: 'destroy', key, reason: 'orphan: labelled as Forge\'s but no service is desired' }, { secrets: {} });
      destroyed += 1;
    }
    return { key, result: destroyed > 0 ? 'success' : 'noop', desired: null, status: null };
  }

  function writeStatus(row: DesiredRow, previous: StatusRow | null, verdict: Verdict, observed: Observed | null, error: ForgeError | null): StatusRow {
    const now = deps.now();
    let life: LifecycleStep;
    try {
      life = advanceLifecycle(previous?.lifecycle ?? null, verdict, row.state, row.generation, now, error);
    } catch {
      // An unreadable snapshot is rebuilt from this pass rather than wedging the service.
      life = advanceLifecycle(null, verdict, row.state, row.generation, now, error);
    }
    const ready = verdict.kind === 'ready';
    let conditions = setCondition(previous?.conditions ?? [], {
      type: 'Ready', status: ready ? 'True' : 'False',
      reason: ready ? 'InstancesReady' : reasonOf(verdict, error), message: error?.message ?? verdict.message,
    }, now);
    const blocked = surgeBlocked.get(row.name);
    conditions = blocked?.hash === row.hash
      ? setCondition(conditions, {
        type: 'Rollout', status: 'True', reason: 'StopThenStart',
        message: `no agent has room for a new instance of ${row.name} beside the old one: ${blocked.reason}; ` +
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
      name: row.name,
      phase: life.phase,
      observedGeneration: converged ? row.generation : (previous?.observedGeneration ?? 0),
      conditions,
      // The router knows where traffic really enters (scheme, caddy's port); the
      // agent provider only knows the domain, so its URL lacks a dev listener's port.
      url: (deps.routes && row.spec.provider === 'agent' ? deps.routes.url(row.name) : null) ?? observed?.url ?? previous?.url ?? null,
      lastError: failure,
      lifecycle: life.snapshot,
      updatedAt: '',
    };
    if (deps.store.status.put(status)) {
      for (const event of life.events) {
        deps.store.events.append(row.name, { type: event.type, reason: event.reason, message: event.message });
      }
    }
    return deps.store.status.get(row.name) ?? status;
  }

  async function reconcile(key: string): Promise<ReconcileOutcome> {
    const started = process.hrtime.bigint();
    try {
      const outcome = await reconcileInner(key);
      deps.metrics?.reconcileTotal.inc({ result: outcome.result });
      return outcome;
    } finally {
      deps.metrics?.reconcileDuration.observe(Number(process.hrtime.bigint() - started) / 1e9);
    }
  }

  async function reconcileInner(key: string): Promise<ReconcileOutcome> {
    const row = deps.store.services.get(key);
    if (!row) return reconcileOrphan(key);
    const previous = deps.store.status.get(key);
    const provider = deps.provider(row.spec.provider);
    if (!provider) {
      const error = new ForgeError('E_COMPUTE_NOT_CONFIGURED',
        `provider ${row.spec.provider} is not configured on this control plane`, { terminal: true });
      const status = writeStatus(row, previous, { kind: 'refused', code: error.code, message: error.message }, null, error);
      return { key, result: 'terminal', error, desired: row, status };
    }

    const [observed = null] = await provider.observe([key]);
    if (surgeBlocked.get(key)?.hash !== row.hash) surgeBlocked.delete(key);
    const desired: Desired = {
      key, spec: row.spec, hash: row.hash, generation: row.generation, state: row.state, deleting: row.deleting,
    };
    const digest = secretsDigestFor(row, observed);
    if (digest !== undefined) desired.secretsDigest = digest;
    let badHash = deps.store.releases.isBad(key, row.hash);
    // Once the route serves the new release it has succeeded, even before the old one is
    // retired: a later crash is a crash to restart, not a reason to fall back to a
    // release that is about to be gone.
    if (!badHash && !row.deleting && observed && routedToDesired(desired, observed)) markReleaseSucceeded(row);
    if (!badHash && !row.deleting) badHash = markReleaseBadOnFailure(row, observed);
    const blocked = surgeBlocked.get(key);
    const actions = diff(desired, observed, provider.capabilities, deps.now(), {
      ...(badHash ? { badHashes: new Set([row.hash]) } : {}),
      ...(blocked ? { surgeBlocked: blocked.reason } : {}),
    });
    const verdict = withReleaseReason(assess(desired, observed, actions), badHash ? deps.store.releases.get(key, row.generation) : null);

    if (verdict.kind === 'deleting' && verdict.gone) {
      // remove() refuses when an upsert revived the row meanwhile: then it is not deleted.
      if (!deps.store.services.remove(key)) return { key, result: 'success', requeueAfterMs: 0 };
      await deps.routes?.remove(key);
      deps.store.events.append(key, { type: 'Normal', reason: 'Deleted', message: 'every remote object is gone; service removed' }, row.id);
      return { key, result: 'success', desired: null, status: null };
    }
    if (verdict.kind === 'refused') {
      await routeTo(desired, observed, badHash);
      const status = writeStatus(row, previous, verdict, observed, null);
      if (!badHash) deps.store.releases.setOutcome(key, row.generation, 'failed', verdict.message);
      return { key, result: 'terminal', desired: row, badHash, status };
    }
    if (verdict.kind !== 'progress' && verdict.kind !== 'deleting') {
      await routeTo(desired, observed, badHash);
      const status = writeStatus(row, previous, verdict, observed, null);
      if (verdict.kind === 'ready') markReleaseSucceeded(row);
      const converging = verdict.kind === 'waiting';
      return { key, result: 'noop', requeueAfterMs: converging ? poll : undefined, desired: row, badHash, status };
    }

    // A crashed instance of a release that already ran is restarted with growing delays.
    const wait = crashBackoff(key, row.hash, actions, observed);
    if (wait.waitMs > 0) {
      const status = writeStatus(row, previous, { kind: 'waiting', reason: 'CrashLoopBackOff', message: wait.message ?? 'CrashLoopBackOff' }, observed, null);
      return { key, result: 'noop', requeueAfterMs: wait.waitMs, desired: row, badHash, status };
    }

    // Work to do. Record the release before acting, so a crash mid-deploy still has it.
    if (!row.deleting) deps.store.releases.record({ name: key, generation: row.generation, hash: row.hash, spec: row.spec, revision: row.spec.image ?? row.spec.revision ?? null });
    writeStatus(row, previous, verdict, observed, null);
    let secrets: Record<string, string> = {};
    let acting: Action | undefined;
    try {
      if (!row.deleting) secrets = deps.secretsFor(key);
      await unrouteBeforeRemoval(desired, observed, actions, badHash);
      try {
        for (const action of actions) {
        if (action.kind === 'noop') continue;
          acting = action;
          const result: ApplyResult = await provider.apply(action, { secrets });
          deps.store.events.append(key, actionEvent(action, result, observed));
        }
      } finally {
        draining.delete(key);
      }
      // The route follows what is left now, not what was there before the actions.
      const [after = null] = await provider.observe([key]);
      await routeTo(desired, after, badHash);
    } catch (thrown) {
      const error = toForgeError(thrown, 'E_PROVIDER');
      const shortage = surgeShortage(error, acting, observed);
      if (shortage !== undefined && !row.deleting) {
        // No room beside the old instance: roll out stop-then-start from the next pass on.
        surgeBlocked.set(key, { hash: row.hash, reason: shortage });
        deps.store.events.appendCounted(key, { type: 'Warning', reason: 'NoRoomToSurge', message: `${error.code}: ${error.message}; replacing stop-then-start` });
        const status = writeStatus(row, deps.store.status.get(key), verdict, observed, null);
        return { key, result: 'success', requeueAfterMs: 0, desired: row, badHash, status };
      }
      deps.store.events.appendCounted(key, { type: 'Warning', reason: 'ActionFailed', message: `${error.code}: ${error.message}` });
      const status = writeStatus(row, deps.store.status.get(key), verdict, observed, error);
      // Only a failure the spec itself causes makes the release bad; a missing key, token or
      // isolation is fixed outside the spec and must not block this spec afterwards.
      if (error.terminal && SPEC_CAUSED.has(error.code)) {
        deps.store.releases.setOutcome(key, row.generation, 'failed', error.message);
        deps.metrics?.releasesTotal.inc({ status: 'failed' });
      }
      return { key, result: error.terminal ? 'terminal' : 'error', error, desired: row, badHash, status };
    }
    return { key, result: 'success', requeueAfterMs: poll, desired: row, badHash, status: deps.store.status.get(key) };
  }

  /** Keeps the route on ready instances; a failure to reach Caddy is retried by the next pass. */
  async function routeTo(desired: Desired, observed: Observed | null, badHash: boolean): Promise<void> {
    if (!deps.routes || desired.spec.provider !== 'agent') return;
    const { upstreams } = chooseUpstreams(desired, observed, { badRelease: badHash });
    await deps.routes.set(desired.key, { domains: desired.spec.domains, upstreams });
  }

  /**
   * Before an instance is stopped or destroyed it leaves the route, then gets a
   * grace period for requests in flight. If Caddy cannot be told, nothing is
   * stopped: the error propagates and the pass is retried.
   */
  async function unrouteBeforeRemoval(desired: Desired, observed: Observed | null, actions: readonly Action[], badHash: boolean): Promise<void> {
    if (!deps.routes || desired.spec.provider !== 'agent' || !observed) return;
    const leaving = new Set<string>();
    for (const action of actions) {
      if (action.kind === 'destroy' && !action.instanceId) observed.instances.forEach((i) => leaving.add(i.id));
      else if ((action.kind === 'destroy' || action.kind === 'stop') && action.instanceId) leaving.add(action.instanceId);
    }
    const routed = observed.instances.some((i) => leaving.has(i.id) && i.state === 'running' && i.health === 'healthy');
    if (!routed) return;
    draining.set(desired.key, leaving);
    const { upstreams } = chooseUpstreams(desired, observed, { excluding: leaving, badRelease: badHash });
    await deps.routes.set(desired.key, { domains: desired.spec.domains, upstreams });
    await sleep(drainMs);
  }

  /** A current-release instance that failed before the release ever succeeded marks the release bad. */
  function markReleaseBadOnFailure(row: DesiredRow, observed: Observed | null): boolean {
    const failed = observed?.instances.find((i) => i.hash === row.hash && i.state === 'failed');
    if (!failed) return false;
    const release = deps.store.releases.get(row.name, row.generation);
    if (!release || release.outcome !== 'pending') return false;
    const reason = failed.reason ?? `instance ${failed.id} failed`;
    deps.store.releases.setOutcome(row.name, row.generation, 'failed', reason);
    const after = earlierReleaseRunning(row.hash, observed?.instances ?? [])
      ? 'the previous release keeps serving' : `no earlier release is running: ${RETRY_HINT(row.name)}`;
    deps.store.events.append(row.name, { type: 'Warning', reason: 'ReleaseFailed', message: `generation ${row.generation} failed: ${reason}; ${after}` });
    deps.metrics?.releasesTotal.inc({ status: 'failed' });
    return true;
  }

  /**
   * The digest of today's secret values, read (decrypted) only when an instance's label
   * differs from the desired hash: a settled service costs nothing per pass. Undecryptable
   * values leave it unknown here; the action path reports E_SECRET_DECRYPT.
   */
  function secretsDigestFor(row: DesiredRow, observed: Observed | null): string | undefined {
    if (!deps.secretsDigest || row.deleting || row.spec.secrets.length === 0) return undefined;
    if (!observed?.instances.some((i) => i.hash !== row.hash)) return undefined;
    try {
      return deps.secretsDigest(row.name, row.spec);
    } catch {
      return undefined;
    }
  }

  /** Whether crashed instances may be replaced now (reconciler/crash-backoff.ts decides). */
  function crashBackoff(key: string, hash: string, actions: readonly Action[], observed: Observed | null): CrashWait {
    const replaced = new Set(actions.flatMap((a) => (a.kind === 'replace' ? [a.instanceId] : [])));
    // Only the desired release's crashes: a new release (the fix) replaces a crashing one at once.
    const crashed = observed?.instances.filter((i) => i.state === 'failed' && i.hash === hash && replaced.has(i.id)) ?? [];
    if (crashed.length === 0 && observed?.instances.every((i) => i.state === 'running' && i.health === 'healthy')) crashes.delete(key);
    const decision = crashWait(crashed, crashes.get(key), deps.now(), deps.crashBackoff);
    if (decision.kept) crashes.set(key, decision.kept);
    return decision;
  }

  /** Every replica of the desired release is ready, so the route serves it. */
  function routedToDesired(desired: Desired, observed: Observed): boolean {
    const ready = observed.instances.filter((i) => i.hash === desired.hash && i.state === 'running' && i.health === 'healthy');
    return desired.state === 'running' && desired.spec.replicas > 0 && new Set(ready.map((i) => i.replica)).size >= desired.spec.replicas;
  }

  function markReleaseSucceeded(row: DesiredRow): void {
    const release = deps.store.releases.get(row.name, row.generation);
    if (release && release.outcome === 'pending') {
      deps.store.releases.setOutcome(row.name, row.generation, 'succeeded', null);
      deps.metrics?.releasesTotal.inc({ status: 'succeeded' });
    }
  }

  return {
    reconcile,
    /** Instance ids of this key that are leaving the route right now. */
    drainingOf: (key: string): ReadonlySet<string> | undefined => draining.get(key),
  };
}

export type Controller = ReturnType<typeof createController>;

function reasonOf(verdict: Verdict, error: ForgeError | null): string {
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

/**
 * A release refused because it already failed says why it failed (the health
 * check's answer, the exit code), not only that it did: that is what the
 * operator reads in the service's status.
 */
function withReleaseReason(verdict: Verdict, release: { outcome: string; reason: string | null } | null | undefined): Verdict {
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
