// One key's reconcile: read desired + observed, decide (diff, assess), act through
// the provider, record status and events. Level-triggered: nothing here depends
// on which event woke it up, so a missed event costs latency, never correctness.

import type { Desired, Observed, Provider, ApplyResult } from '../providers/types.ts';
import type { ProviderName } from '../specs/types.ts';
import { ForgeError, toForgeError } from '../specs/errors.ts';
import type { Store } from '../store/index.ts';
import type { StatusRow, DesiredRow } from '../store/types.ts';
import { diff } from './diff.ts';
import { assess, type Verdict } from './assess.ts';
import { advanceLifecycle, type LifecycleStep } from './lifecycle-driver.ts';
import { setCondition } from './conditions.ts';
import type { ReconcilerMetrics } from './metrics.ts';

export interface ControllerDeps {
  store: Store;
  /** The provider serving a given name, or undefined when it is not configured. */
  provider(name: ProviderName): Provider | undefined;
  /** Every configured provider: orphans are looked for in each. */
  providers(): Provider[];
  /** Decrypted secret values of one service (may throw E_SECRET_DECRYPT). */
  secretsFor(name: string): Record<string, string>;
  now(): number;
  metrics?: ReconcilerMetrics;
  /** How long to wait before looking again while instances converge. */
  pollMs?: number;
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

export function createController(deps: ControllerDeps) {
  const poll = deps.pollMs ?? DEFAULT_POLL_MS;

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
      url: observed?.url ?? previous?.url ?? null,
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
    const desired: Desired = {
      key, spec: row.spec, hash: row.hash, generation: row.generation, state: row.state, deleting: row.deleting,
    };
    const badHash = deps.store.releases.isBad(key, row.hash);
    const actions = diff(desired, observed, provider.capabilities, deps.now(), badHash ? { badHashes: new Set([row.hash]) } : undefined);
    const verdict = assess(desired, observed, actions);

    if (verdict.kind === 'deleting' && verdict.gone) {
      deps.store.events.append(key, { type: 'Normal', reason: 'Deleted', message: 'every remote object is gone; service removed' });
      deps.store.services.remove(key);
      return { key, result: 'success', desired: null, status: null };
    }
    if (verdict.kind === 'refused') {
      const status = writeStatus(row, previous, verdict, observed, null);
      if (!badHash) deps.store.releases.setOutcome(key, row.generation, 'failed', verdict.message);
      return { key, result: 'terminal', desired: row, badHash, status };
    }
    if (verdict.kind !== 'progress' && verdict.kind !== 'deleting') {
      const status = writeStatus(row, previous, verdict, observed, null);
      if (verdict.kind === 'ready') markReleaseSucceeded(row);
      const converging = verdict.kind === 'waiting';
      return { key, result: 'noop', requeueAfterMs: converging ? poll : undefined, desired: row, badHash, status };
    }

    // Work to do. Record the release before acting, so a crash mid-deploy still has it.
    if (!row.deleting) deps.store.releases.record({ name: key, generation: row.generation, hash: row.hash, spec: row.spec, revision: row.spec.image ?? null });
    writeStatus(row, previous, verdict, observed, null);
    let secrets: Record<string, string> = {};
    try {
      if (!row.deleting) secrets = deps.secretsFor(key);
      for (const action of actions) {
        if (action.kind === 'noop') continue;
        const result: ApplyResult = await provider.apply(action, { secrets });
        deps.store.events.append(key, {
          type: 'Normal', reason: capitalize(action.kind),
          message: `${action.reason}${result.instanceId ? ` (${result.instanceId})` : ''}`,
        });
      }
    } catch (thrown) {
      const error = toForgeError(thrown, 'E_PROVIDER');
      deps.store.events.append(key, { type: 'Warning', reason: 'ActionFailed', message: `${error.code}: ${error.message}` });
      const status = writeStatus(row, deps.store.status.get(key), verdict, observed, error);
      if (error.terminal) {
        deps.store.releases.setOutcome(key, row.generation, 'failed', error.message);
        deps.metrics?.deploymentsTotal.inc({ status: 'failed' });
      }
      return { key, result: error.terminal ? 'terminal' : 'error', error, desired: row, badHash, status };
    }
    return { key, result: 'success', requeueAfterMs: poll, desired: row, badHash, status: deps.store.status.get(key) };
  }

  function markReleaseSucceeded(row: DesiredRow): void {
    const release = deps.store.releases.get(row.name, row.generation);
    if (release && release.outcome === 'pending') {
      deps.store.releases.setOutcome(row.name, row.generation, 'succeeded', null);
      deps.metrics?.deploymentsTotal.inc({ status: 'succeeded' });
    }
  }

  return { reconcile };
}

export type Controller = ReturnType<typeof createController>;

function reasonOf(verdict: Verdict, error: ForgeError | null): string {
  if (error) return error.terminal ? 'Failed' : 'ProviderError';
  switch (verdict.kind) {
    case 'progress': return verdict.fresh ? 'Creating' : 'Deploying';
    case 'waiting': return 'WaitingForInstances';
    case 'stopped': return 'Stopped';
    case 'refused': return 'Refused';
    case 'deleting': return 'Deleting';
    case 'ready': return 'InstancesReady';
  }
}

function capitalize(word: string): string {
  return word.charAt(0).toUpperCase() + word.slice(1);
}
