// Pure: what must happen for one service key to make what is observed equal to
// what is desired. Data in, data out: no clock reads, no I/O, no retries (the
// loop owns backoff; the controller executes the actions through a provider).
//
// Output order is fixed so `forge diff`, events and tests read the same way:
//   1. destroy of single instances (scale-down and duplicates), highest slot first, then by id
//   2. error (alone: a refused change emits nothing else for that key)
//   3. create, by slot
//   4. update / replace, by slot
//   5. start / stop, by slot
// A pass with nothing to do returns exactly one noop.
//
// An `update` with `changed: []` is a relabel: the instance already runs an
// equivalent spec under another hash (e.g. only `replicas` changed). Providers
// must treat it as a label/metadata write, never a restart. It is emitted only
// for providers with `updateInPlace`; others keep the old label (never a
// replace just for a label).

import type {
  Action, Desired, Observed, ObservedInstance, ProviderCapabilities,
} from '../providers/types.ts';
import { changedFields, isInPlaceChange } from './spec-fields.ts';
import { runsCurrentSecretValues, SECRET_VALUES_CHANGED } from './secret-values.ts';
import { specHash } from '../specs/hash.ts';

export interface DiffOptions {
  /**
   * Spec hashes of releases that already failed. Nothing is created, updated or
   * replaced toward such a hash: the previous release keeps serving until the
   * spec changes again.
   */
  badHashes?: ReadonlySet<string>;
  /**
   * Set when the provider found no room to start a new instance beside an old one
   * (what was short, in words). Live instances are then replaced one replica at a
   * time, each stopped before its replacement starts: maxSurge 0, maxUnavailable 1.
   */
  surgeBlocked?: string;
}

type ActionOf<K extends Action['kind']> = Extract<Action, { kind: K }>;

/** A destroy of one instance, tagged with why (bad releases keep duplicates' cleanup only). */
interface ExtraInstance {
  instance: ObservedInstance;
  why: 'scale-down' | 'duplicate' | 'bad-slot' | 'superseded';
  reason: string;
}

/**
 * @param now passed in by the caller (never read from a clock); diff decides
 *   nothing by time today, the parameter keeps the signature stable for callers.
 */
export function diff(
  desired: Desired | null,
  observed: Observed | null,
  caps: ProviderCapabilities,
  now: number,
  opts: DiffOptions = {},
): Action[] {
  void now;
  const key = desired?.key ?? observed?.key ?? '';
  const instances = observed?.instances ?? [];

  if (desired === null || desired.deleting) return teardown(key, desired, instances);

  if (isSettled(desired, instances) && !opts.badHashes?.has(desired.hash)) return [{ kind: 'noop', key, reason: 'up to date' }];

  const refusal = regionRefusal(desired, instances);
  if (refusal) return [refusal];

  const bad = opts.badHashes?.has(desired.hash) ?? false;
  const { kept, extras: assigned, surging } = assignSlots(desired, instances, bad);
  // Cutover is all at once: no old instance goes until every new one is ready,
  // so the route flips from the whole old release to the whole new one.
  const extras = surging.length > 0 ? assigned.filter((e) => e.why !== 'superseded') : assigned;
  const destroys = extras.sort(byExtraOrder).map((extra): ActionOf<'destroy'> & { why: ExtraInstance['why'] } => ({
    kind: 'destroy', key, instanceId: extra.instance.id, reason: extra.reason, why: extra.why,
  }));
  const creates: Action[] = [];
  const changes: Action[] = [];
  const power: Action[] = [];
  const waiting: string[] = [];
  const replicas = slotCount(desired);

  for (let slot = 0; slot < replicas; slot += 1) {
    const instance = kept.get(slot);
    if (desired.state === 'stopped') {
      if (instance && instance.state !== 'stopped' && instance.state !== 'stopping') {
        power.push({ kind: 'stop', key, instanceId: instance.id, reason: `service is stopped; replica ${slot} is ${instance.state}` });
      }
      continue; // a stopped service runs nothing: missing or stale replicas wait for start
    }
    if (!instance) {
      creates.push({
        kind: 'create', key, replica: slot, spec: desired.spec, hash: desired.hash, generation: desired.generation,
        reason: `replica ${slot} of ${replicas} is missing`,
      });
      continue;
    }
    planRunningSlot(desired, instance, slot, caps, changes, power, waiting);
  }

  if (opts.surgeBlocked !== undefined && !bad) stopThenStart(desired, kept, changes, power, waiting, opts.surgeBlocked);

  let actions: Action[] = [...destroys.map(stripWhy), ...creates, ...changes, ...power];
  if (bad) {
    // Only cleanup that moves nothing toward the failed release survives.
    actions = [
      ...destroys.filter((d) => d.why === 'duplicate' || d.why === 'bad-slot').map(stripWhy),
      ...power.filter((a) => a.kind === 'stop'),
    ];
    if (actions.length === 0) {
      const release = `release ${shortHash(desired.hash)} (generation ${desired.generation})`;
      return [{
        kind: 'noop', key, blockedBy: 'bad-release',
        reason: earlierReleaseRunning(desired.hash, instances)
          ? `${release} failed; waiting for a spec change while the previous release keeps serving`
          : `${release} failed and no earlier release is running; ${RETRY_HINT(key)}`,
      }];
    }
    return actions;
  }
  if (actions.length > 0) return actions;
  for (const slot of surging) waiting.push(`replica ${slot} of the new release to become healthy (the old one keeps serving)`);
  const reason = waiting.length === 0 ? 'up to date' : `nothing to do; waiting for ${waiting.join(', ')}`;
  return [{ kind: 'noop', key, reason }];
}

/** What to do about a failed release when nothing earlier serves (a first release, usually). */
export const RETRY_HINT = (key: string) => `fix the cause, then retry with forge restart ${key} (or change the spec)`;

/** Whether an instance of another release still runs: only then does "the previous release keeps serving" hold. */
export function earlierReleaseRunning(hash: string, instances: readonly ObservedInstance[]): boolean {
  return instances.some((i) => i.hash !== hash && i.state === 'running');
}

/** True when a diff result asks for no work: only noop actions. */
export function isNoop(actions: readonly Action[]): boolean {
  return actions.every((action) => action.kind === 'noop');
}

/**
 * The common case of a resync pass, checked without allocating: exactly one
 * instance per slot, all on the desired hash and region, all in the desired run
 * state. Anything else takes the full path, which reaches the same answer.
 */
function isSettled(desired: Desired, instances: readonly ObservedInstance[]): boolean {
  const replicas = slotCount(desired);
  if (instances.length !== replicas) return false;
  const wantRunning = desired.state === 'running';
  let seen = 0;
  for (const instance of instances) {
    const slot = instance.replica;
    if (instance.hash !== desired.hash || instance.region !== desired.spec.region) return false;
    if (wantRunning ? instance.state !== 'running' || instance.health === 'unhealthy' : instance.state !== 'stopped' && instance.state !== 'stopping') return false;
    if (!Number.isInteger(slot) || slot < 0 || slot >= replicas || slot >= 31 || (seen & (1 << slot)) !== 0) return false;
    seen |= 1 << slot;
  }
  return true;
}

function teardown(key: string, desired: Desired | null, instances: readonly ObservedInstance[]): Action[] {
  if (instances.length === 0) return [{ kind: 'noop', key, reason: 'nothing to delete' }];
  const reason = desired === null
    ? `orphan: ${instances.length} instance(s) labelled ${key} but no service is desired`
    : `service is being deleted: destroying ${instances.length} instance(s)`;
  return [{ kind: 'destroy', key, reason }];
}

function regionRefusal(desired: Desired, instances: readonly ObservedInstance[]): Action | null {
  const wanted = desired.spec.region;
  const elsewhere = [...new Set(instances.map((i) => i.region).filter((r) => !sameRegion(r, wanted)))].sort();
  if (elsewhere.length === 0) return null;
  return {
    kind: 'error', key: desired.key, code: 'E_REGION_IMMUTABLE',
    reason: `region is immutable: instances run in ${elsewhere.join(', ')} but the spec asks for ${wanted}; ` +
      `delete the service (forge delete ${desired.key}) and deploy it again to move it`,
  };
}

function sameRegion(a: string, b: string): boolean {
  return a.trim().toLowerCase() === b.trim().toLowerCase();
}

function slotCount(desired: Desired): number {
  const n = desired.spec.replicas;
  return Number.isInteger(n) && n > 0 ? n : 0;
}

/** One instance per wanted slot; everything else (beyond replicas, duplicates, bad slot numbers) is extra. */
function assignSlots(desired: Desired, instances: readonly ObservedInstance[], bad: boolean) {
  const replicas = slotCount(desired);
  const bySlot = new Map<number, ObservedInstance[]>();
  const extras: ExtraInstance[] = [];
  for (const instance of instances) {
    const slot = instance.replica;
    if (!Number.isInteger(slot) || slot < 0) {
      extras.push({ instance, why: 'bad-slot', reason: `instance has no valid replica slot (${slot})` });
    } else if (slot >= replicas) {
      extras.push({ instance, why: 'scale-down', reason: `scale down: replica ${slot} is beyond replicas=${replicas}` });
    } else {
      bySlot.set(slot, [...(bySlot.get(slot) ?? []), instance]);
    }
  }
  const kept = new Map<number, ObservedInstance>();
  const surging: number[] = [];
  for (const [slot, group] of bySlot) {
    const [best, ...rest] = [...group].sort((a, b) => compareKeepers(a, b, desired.hash, bad, desired.state));
    if (!best) continue;
    kept.set(slot, best);
    // A new release started beside the old one (providers that cannot update in
    // place): the old instance serves until the new one is ready, then it is
    // superseded. It is never destroyed for a new instance that is not ready.
    const serving = bad || best.hash !== desired.hash ? undefined
      : rest.filter((i) => i.hash !== desired.hash && i.state === 'running').sort((a, b) => compareKeepers(a, b, '', false, 'running'))[0];
    if (serving && !isReady(best)) surging.push(slot);
    for (const instance of rest) {
      if (instance === serving) {
        if (isReady(best)) {
          extras.push({ instance, why: 'superseded', reason: `replica ${slot} superseded by ${best.id} of release ${shortHash(desired.hash)}` });
        }
        continue;
      }
      extras.push({ instance, why: 'duplicate', reason: `duplicate in replica slot ${slot}: keeping ${best.id}` });
    }
  }
  return { kept, extras, surging: surging.sort((a, b) => a - b) };
}

function isReady(instance: ObservedInstance): boolean {
  return instance.state === 'running' && instance.health === 'healthy';
}

/**
 * Which instance of a crowded slot to keep: current hash, then running and
 * healthy, then not failed, then in the run state the service wants (a copy on
 * its way up beats a stopped one while the service runs), then lowest id. When
 * the desired release is bad, its instances rank last: the previous release is
 * the one that keeps serving.
 */
function compareKeepers(a: ObservedInstance, b: ObservedInstance, hash: string, bad: boolean, want: Desired['state']): number {
  const idle = (i: ObservedInstance) => i.state === 'stopped' || i.state === 'stopping';
  const rank = (i: ObservedInstance) => [
    (i.hash === hash) === !bad ? 0 : 1,
    i.state === 'running' && i.health === 'healthy' ? 0 : 1,
    i.state === 'failed' || i.health === 'unhealthy' ? 1 : 0,
    idle(i) === (want === 'stopped') ? 0 : 1,
  ];
  const ra = rank(a);
  const rb = rank(b);
  for (let k = 0; k < ra.length; k += 1) {
    const d = (ra[k] ?? 0) - (rb[k] ?? 0);
    if (d !== 0) return d;
  }
  return compareIds(a.id, b.id);
}

function planRunningSlot(
  desired: Desired, instance: ObservedInstance, slot: number, caps: ProviderCapabilities,
  changes: Action[], power: Action[], waiting: string[],
): void {
  const { key, spec, hash, generation } = desired;
  const changed = changesOf(desired, instance);
  const target = { key, instanceId: instance.id, replica: slot, spec, hash, generation };

  if (instance.state === 'failed' || (instance.state === 'running' && instance.health === 'unhealthy')) {
    // Updating a failed instance in place would not revive it: always a new one. A
    // running instance that keeps failing its health check is treated the same way.
    const why = instance.reason ?? (instance.state === 'failed' ? 'no reason reported' : 'health check failing');
    const reason = changed.length === 0
      ? `replica ${slot} failed: ${why}`
      : `replica ${slot} failed (${why}) and its spec changed: ${changed.join(', ')}`;
    changes.push({ kind: 'replace', ...target, changed, reason });
    return;
  }
  if (changed.length > 0) {
    if (caps.updateInPlace && isInPlaceChange(changed)) {
      const reason = changed.length === 1 && changed[0] === SECRET_VALUES_CHANGED
        ? 'secret values changed; updating in place (restarts with the new values)'
        : `spec changed, updating in place: ${changed.join(', ')}`;
      changes.push({ kind: 'update', ...target, changed, reason });
      if (instance.state === 'stopped' || instance.state === 'stopping') {
        power.push({ kind: 'start', key, instanceId: instance.id, reason: `service is running; replica ${slot} is ${instance.state}` });
      }
    } else {
      const why = changed[0] === 'spec'
        ? `runs release ${shortHash(instance.hash)} (spec unknown), desired ${shortHash(hash)}`
        : changed.length === 1 && changed[0] === SECRET_VALUES_CHANGED
          ? 'secret values changed: replaced by a new instance, health-gated'
          : `spec changed: ${changed.join(', ')}; ${caps.updateInPlace ? 'needs a new instance' : 'provider cannot update in place'}`;
      changes.push({ kind: 'replace', ...target, changed, reason: `replica ${slot} ${why}` });
    }
    return;
  }
  if (instance.hash !== hash && caps.updateInPlace) {
    // Same meaning under another label (a scale-only change, a hand-edited label):
    // a label-only update, so release tracking and cutover see the current hash.
    changes.push({
      kind: 'update', ...target, changed: [],
      reason: `replica ${slot} runs an equivalent spec labelled ${shortHash(instance.hash)}: relabel only, no restart`,
    });
  }
  if (instance.state === 'stopped' || instance.state === 'stopping') {
    power.push({ kind: 'start', key, instanceId: instance.id, reason: `service is running; replica ${slot} is ${instance.state}` });
  } else if (instance.state === 'creating' || instance.state === 'starting') {
    waiting.push(`replica ${slot} (${instance.state})`);
  }
}

/**
 * The surge fallback: a replace of a live instance would start its successor beside it,
 * for which there is no room. Instead the lowest such replica is stopped first (its
 * replace follows once it is stopped, as for any stopped instance of an old release),
 * and only while no other replica is between its old and its new instance.
 */
function stopThenStart(
  desired: Desired, kept: ReadonlyMap<number, ObservedInstance>, changes: Action[], power: Action[], waiting: string[], shortage: string,
): void {
  const isSurge = (a: Action): a is ActionOf<'replace'> => {
    const instance = a.kind === 'replace' ? kept.get(a.replica) : undefined;
    return instance !== undefined && instance.id === (a as ActionOf<'replace'>).instanceId && isLive(instance);
  };
  // The old instance is still on its way down and holds its room: its replacement waits for it.
  const stopping = changes.filter((a): a is ActionOf<'replace'> => a.kind === 'replace' && kept.get(a.replica)?.state === 'stopping');
  for (const wait of stopping) {
    changes.splice(changes.indexOf(wait), 1);
    waiting.push(`replica ${wait.replica}'s old instance to stop before its replacement starts`);
  }
  const surges = changes.filter(isSurge);
  if (surges.length === 0) return;
  for (const surge of surges) changes.splice(changes.indexOf(surge), 1);
  const busy = [...kept.entries()].filter(([, i]) => (i.hash === desired.hash && !isReady(i)) || (i.hash !== desired.hash && isIdle(i)))
    .map(([slot]) => slot).sort((a, b) => a - b);
  const [first, ...rest] = surges.sort((a, b) => a.replica - b.replica);
  if (busy.length === 0 && first) {
    power.push({
      kind: 'stop', key: desired.key, instanceId: first.instanceId,
      reason: `replica ${first.replica}: no room for its new instance beside the old one (${shortage}); stopping the old one first`,
    });
  }
  const next = busy.length === 0 ? [first!.replica] : busy;
  for (const surge of busy.length === 0 ? rest : surges) {
    waiting.push(`replica ${next.join(', ')} to be replaced before replica ${surge.replica} (no room to run both releases at once)`);
  }
}

function isLive(instance: ObservedInstance): boolean {
  return instance.state !== 'failed' && instance.health !== 'unhealthy' && !isIdle(instance);
}

function isIdle(instance: ObservedInstance): boolean {
  return instance.state === 'stopped' || instance.state === 'stopping';
}

/**
 * What differs between the instance and the desired spec; empty when it runs
 * the same thing. An instance whose hash differs but whose spec compares equal
 * (only `replicas` changed, defaults spelled differently, a tampered label)
 * needs no restart: at most a relabel. Unless its secret values are older than
 * the service's (`secrets.values`): then it must restart with the new ones, or a
 * rotated credential would never reach it while the service reports converged.
 */
function changesOf(desired: Desired, instance: ObservedInstance): string[] {
  if (instance.hash === desired.hash) return [];
  if (!instance.spec) return ['spec'];
  const changed = changedFields(instance.spec, desired.spec);
  if (changed.length > 0 || desired.secretsDigest === undefined || !foldsSecretValues(desired)) return changed;
  return runsCurrentSecretValues({ spec: instance.spec, hash: instance.hash }, desired.secretsDigest) ? [] : [SECRET_VALUES_CHANGED];
}

/**
 * Whether the desired hash has secret values folded in. A writer that hashes the spec
 * alone (`forge dev`'s local apply) labels instances without them: comparing their
 * labels with a value digest would see a change that is not there.
 */
function foldsSecretValues(desired: Desired): boolean {
  return desired.spec.secrets.length > 0 && desired.hash !== specHash(desired.spec);
}

/** Highest slot first (scale down from the top), then by id; invalid slots first of all. */
function byExtraOrder(a: ExtraInstance, b: ExtraInstance): number {
  const slot = (e: ExtraInstance) => (e.why === 'bad-slot' ? Number.POSITIVE_INFINITY : e.instance.replica);
  const d = slot(b) - slot(a);
  if (d !== 0 && !Number.isNaN(d)) return d;
  return compareIds(a.instance.id, b.instance.id);
}

function stripWhy<T extends { why?: unknown }>(action: T): Omit<T, 'why'> {
  const { why: _why, ...rest } = action;
  return rest;
}

function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function shortHash(hash: string): string {
  return hash.slice(0, 12);
}
