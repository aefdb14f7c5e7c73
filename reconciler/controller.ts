// One key's reconcile: read desired + observed, plan (reconciler/plan.ts decides
// everything), execute the plan's actions through the provider, write its status
// and events, return its requeue. Level-triggered: nothing here depends
// on which event woke it up, so a missed event costs latency, never correctness.

import type { Action, Desired, Observed, Provider, ApplyResult } from '../providers/types.ts';
import type { ProviderName, ServiceSpec } from '../specs/types.ts';
import { toForgeError, type ForgeError } from '../errors/index.ts';
import type { Store } from '../store/index.ts';
import type { StatusRow, DesiredRow } from '../store/types.ts';
import { actionEvent } from './action-events.ts';
import type { ReconcilerMetrics } from './metrics.ts';
import type { CrashBackoffPolicy } from './crash-backoff.ts';
import { plan, planFailure, routeAfter, type Plan, type PlanInput, type PlanMemory } from './plan.ts';
import { runReleaseCommand } from './release-run.ts';

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
const DEFAULT_DRAIN_MS = 2_000;

export function createController(deps: ControllerDeps) {
  const poll = deps.pollMs ?? DEFAULT_POLL_MS;
  const drainMs = deps.drainMs ?? DEFAULT_DRAIN_MS;
  // What plan() keeps per key between passes (crash counts, drains, stop-then-start rollouts).
  const memories = new Map<string, PlanMemory>();
  // Instances out of the route while they drain or are removed: the resync's route table
  // must leave them out too, or it would put them back.
  const draining = new Map<string, ReadonlySet<string>>();
  // Release commands this control plane is waiting for (service id:generation).
  const inFlight = new Set<string>();

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

  /** Read everything plan() decides from. */
  async function read(row: DesiredRow, provider: Provider | undefined): Promise<PlanInput> {
    const key = row.name;
    const [observed = null] = provider ? await provider.observe([key]) : [];
    const desired: Desired = {
      key, spec: row.spec, hash: row.hash, generation: row.generation, state: row.state, deleting: row.deleting,
    };
    const digest = secretsDigestFor(row, observed);
    if (digest !== undefined) desired.secretsDigest = digest;
    const release = deps.store.releases.get(key, row.generation);
    const command = row.spec.release ? deps.store.releaseCommands.get(row.id, row.generation) : null;
    return {
      desired, observed,
      status: deps.store.status.get(key),
      release: release ? { outcome: release.outcome, reason: release.reason } : null,
      releaseBad: deps.store.releases.isBad(key, row.hash),
      releaseCommand: command && {
        state: command.state, exitCode: command.exitCode, reason: command.reason, startedAt: command.startedAt,
        inFlight: inFlight.has(`${row.id}:${row.generation}`),
      },
      memory: memories.get(key) ?? {},
      capabilities: provider?.capabilities ?? null,
      router: deps.routes !== undefined,
      routeUrl: deps.routes ? deps.routes.url(key) : null,
      now: deps.now(), pollMs: poll, drainMs,
      ...(deps.crashBackoff ? { crashBackoff: deps.crashBackoff } : {}),
    };
  }

  async function reconcileInner(key: string): Promise<ReconcileOutcome> {
    const row = deps.store.services.get(key);
    if (!row) return reconcileOrphan(key);
    const provider = deps.provider(row.spec.provider);
    const input = await read(row, provider);
    let planned = plan(input);
    memories.set(key, planned.memory);
    if (planned.deleteService) {
      // remove() refuses when an upsert revived the row meanwhile: then it is not deleted.
      if (!deps.store.services.remove(key)) return { key, result: 'success', requeueAfterMs: 0 };
      memories.delete(key);
      await deps.routes?.remove(key);
      deps.store.events.append(key, { type: 'Normal', reason: 'Deleted', message: 'every remote object is gone; service removed' }, row.id);
      return { key, result: 'success', desired: null, status: null };
    }
    if (planned.actions.length === 0 && planned.draining.length > 0) draining.set(key, new Set(planned.draining));
    else if (planned.actions.length === 0) draining.delete(key);
    // With nothing to do but route, the route goes first: a release counts as succeeded and the
    // service as running only once the route serves it. A router failure is retried next pass.
    if (planned.actions.length === 0 && planned.route) await deps.routes?.set(key, planned.route);
    writeRelease(row, planned);
    if (planned.recordRelease) {
      deps.store.releases.record({ name: key, generation: row.generation, hash: row.hash, spec: row.spec, revision: row.spec.image ?? row.spec.revision ?? null });
    }
    writeStatus(key, planned);
    if (planned.releaseCommandUnknown !== null) {
      deps.store.releaseCommands.finish(row.id, row.generation, { state: 'unknown', exitCode: null, lastLines: [], reason: planned.releaseCommandUnknown });
    }
    if (planned.releaseCommand && provider) {
      const flight = `${row.id}:${row.generation}`;
      inFlight.add(flight);
      try {
        await runReleaseCommand({ store: deps.store, provider, row, step: planned.releaseCommand, secretsFor: deps.secretsFor });
      } catch (thrown) {
        planned = planFailure(input, planned, toForgeError(thrown, 'E_PROVIDER'), undefined, deps.store.status.get(key));
        memories.set(key, planned.memory);
        writeRelease(row, planned);
        writeStatus(key, planned);
      } finally {
        inFlight.delete(flight);
      }
    }
    if (planned.actions.length > 0 && provider) {
      let acting: Action | undefined;
      try {
        const secrets = row.deleting ? {} : deps.secretsFor(key);
        if (planned.draining.length > 0) draining.set(key, new Set(planned.draining));
        if (planned.route) await deps.routes?.set(key, planned.route);
        try {
          for (const action of planned.actions) {
            acting = action;
            const result: ApplyResult = await provider.apply(action, { secrets });
            deps.store.events.append(key, actionEvent(action, result, input.observed));
          }
        } finally {
          draining.delete(key);
        }
        const [after = null] = await provider.observe([key]);
        const route = routeAfter(input, planned, after);
        if (route) await deps.routes?.set(key, route);
      } catch (thrown) {
        planned = planFailure(input, planned, toForgeError(thrown, 'E_PROVIDER'), acting, deps.store.status.get(key));
        memories.set(key, planned.memory);
        writeRelease(row, planned);
        writeStatus(key, planned);
      }
    }
    return {
      key, result: planned.result, requeueAfterMs: planned.requeueAfterMs, error: planned.error,
      desired: row, badHash: planned.badHash, status: deps.store.status.get(key),
    };
  }

  function writeRelease(row: DesiredRow, planned: Plan): void {
    for (const event of planned.events) deps.store.events.append(row.name, event);
    for (const event of planned.countedEvents) deps.store.events.appendCounted(row.name, event);
    const outcome = planned.releaseOutcome;
    if (!outcome) return;
    deps.store.releases.setOutcome(row.name, row.generation, outcome.outcome, outcome.reason);
    if (outcome.counted) deps.metrics?.releasesTotal.inc({ status: outcome.outcome });
  }

  function writeStatus(key: string, planned: Plan): void {
    if (!planned.status) return;
    if (deps.store.status.put(planned.status.status)) {
      for (const event of planned.status.events) deps.store.events.append(key, event);
    }
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

  return {
    reconcile,
    /** Instance ids of this key that are leaving the route right now. */
    drainingOf: (key: string): ReadonlySet<string> | undefined => draining.get(key),
  };
}


export type Controller = ReturnType<typeof createController>;
