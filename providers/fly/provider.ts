// The Fly.io provider: one Fly app per service (`<name>-<projectId>`), one machine
// per replica, labelled with Forge metadata so observe finds them and a repeated
// create adopts instead of duplicating.
//
// Ownership: a machine is this control plane's only when its `forge_owner` metadata
// is this control plane's id (written at create). Only those are observed, adopted,
// updated, stopped or destroyed; an app is deleted only when nothing else lives in
// it. Machines with Forge metadata but another owner, or none (made before owner
// labels), are reported once and left alone; a service that would need a machine
// beside them is refused with E_CONFLICT until an operator hands them over (sets
// forge_owner) or removes them. observe() is served from a cache kept
// fresh by our own writes and a rate-limited, org-wide, incremental resync.

import { randomUUID } from 'node:crypto';
import { ForgeError } from '../../errors/index.ts';
import type { ServiceSpec } from '../../specs/types.ts';
import type { Action, ApplyContext, ApplyResult, Observed, OneOffContext, OneOffRequest, OneOffResult, Provider, ProviderEvent } from '../types.ts';
import type { FlyMachine } from './api-types.ts';
import { MachineCache, fromMachine, type CachedMachine } from './cache.ts';
import type { FlyClient } from './client.ts';
import { META, instanceHealth, machineConfig, providerEvent, readForgeMeta } from './config.ts';
import { isAmbiguousFlyError, isFlyStatus } from './errors.ts';
import { flyAppName, flyAppUrl } from './names.ts';
import { ensurePublicIps, syncAppSecrets } from './app-setup.ts';
import { oneOffMachineConfig, runFlyOneOff } from './one-off.ts';
import { prepareSourceDeploy, type SourceDeployPlan } from './source-deploy.ts';
import { createResyncGate } from '../resync-gate.ts';

export interface FlyProviderOptions {
  client: FlyClient;
  org: string;
  projectId: string;
  /** This control plane's id: the `forge_owner` it writes and the only owner it acts for. */
  controlPlaneId: string;
  /** Told once per Forge-labelled machine that is not ours (an operator log line). */
  report?: (message: string) => void;
  now?: () => number;
  /** Minimum time between two unforced resyncs. Default 15 s. */
  resyncIntervalMs?: number;
  /** How long apply waits for a machine to settle (0: do not wait). Default 60 s. */
  waitTimeoutSeconds?: number;
  /** Incremental listings look back this far before the last seen update (late-arriving changes). */
  listingOverlapMs?: number;
  /** Every Nth resync is a full listing, which also forgets machines whose deletion we missed. */
  fullResyncEvery?: number;
  /** Machines whose checks are read per resync (org listings carry no check results). */
  healthProbesPerResync?: number;
  /** A healthy machine's checks are re-read after this long. Default 60 s. */
  healthRecheckMs?: number;
}

export interface DeployToken {
  app: string;
  token: string;
  expiresAt: number;
}

export type FlyProvider = Provider & {
  resync(force?: boolean): Promise<void>;
  mintDeployToken(name: string, ttlSeconds?: number): Promise<DeployToken>;
  /** Source deploys: the app shell plus a 20-minute deploy token and the image ref the build will push. */
  prepareSourceDeploy(name: string, opts?: { label?: string }): Promise<SourceDeployPlan>;
  appName(key: string): string;
};

const CREATE_ATTEMPTS = 3;
const UPDATE_ATTEMPTS = 3;
const PROBE_PARALLELISM = 10;

export function createFlyProvider(opts: FlyProviderOptions): FlyProvider {
  const { client, projectId } = opts;
  const owner = opts.controlPlaneId;
  const report = opts.report ?? (() => {});
  const reported = new Set<string>();
  const now = opts.now ?? Date.now;
  const resyncIntervalMs = opts.resyncIntervalMs ?? 15_000;
  const waitTimeoutSeconds = opts.waitTimeoutSeconds ?? 60;
  const overlapMs = opts.listingOverlapMs ?? 5_000;
  const fullEvery = opts.fullResyncEvery ?? 20;
  const probes = opts.healthProbesPerResync ?? 20;
  const healthRecheckMs = opts.healthRecheckMs ?? 60_000;
  const cache = new MachineCache(now);
  /** Apps whose existence and IPs this process has confirmed. */
  const readyApps = new Set<string>();
  let lastSyncAt = -Infinity;
  let highWater: number | undefined;
  let syncCount = 0;
  const gate = createResyncGate(() => doResync(), () => now() - lastSyncAt >= resyncIntervalMs);

  const appName = (key: string) => flyAppName(key, projectId);

  /** Records a machine read or written; `known` is the spec behind `hash`, kept only if the machine carries that hash. */
  const remember = (app: string, m: FlyMachine, known?: { spec: ServiceSpec; hash: string }): CachedMachine => {
    const cached = fromMachine(app, m, projectId);
    if (!cached) throw new ForgeError('E_PROVIDER', `Fly machine ${m.id} in ${app} came back without Forge metadata`);
    if (cached.owner !== owner) throw notOurs(app, cached.key, [{ id: m.id, ...(cached.owner ? { owner: cached.owner } : {}) }]);
    if (known && cached.hash === known.hash) cached.spec = known.spec;
    cache.write(cached);
    return cached;
  };

  async function ensureApp(key: string): Promise<{ app: string; fresh: boolean }> {
    const app = appName(key);
    if (readyApps.has(app)) return { app, fresh: false };
    const { created } = await client.createApp(app, `forge-${projectId}-${randomUUID()}`);
    await ensurePublicIps(client, app, created);
    readyApps.add(app);
    cache.rememberApp(key, app);
    return { app, fresh: created };
  }

  function reportUnowned(app: string, m: { id: string; key: string; owner?: string }): void {
    if (reported.has(m.id)) return;
    reported.add(m.id);
    report(`Fly machine ${m.id} (app ${app}, service ${m.key}) was not created by this control plane ` +
      `(forge_owner ${m.owner ? JSON.stringify(m.owner) : 'missing'}, ours ${owner}): left alone, never updated or destroyed`);
  }

  function notOurs(app: string, key: string, machines: readonly { id: string; owner?: string }[]): ForgeError {
    const owners = [...new Set(machines.map((m) => m.owner ?? 'none'))].join(', ');
    return new ForgeError('E_CONFLICT',
      `Fly app ${app} already has machine(s) ${machines.map((m) => m.id).join(', ')} for service ${key} that were not created by this control plane ` +
      `(forge_owner ${owners}; ours ${owner}); Forge does not adopt, change or destroy them. To hand them over, set their metadata ` +
      `forge_owner=${owner} (Machines API: POST /v1/apps/${app}/machines/<id>/metadata/forge_owner, no restart); or destroy them`,
      { details: { app, machines: machines.map((m) => m.id) }, terminal: true });
  }

  /** Live Forge-labelled machines of the key in its app: ours, and anyone else's (never touched). */
  async function listRemote(app: string, key: string): Promise<{ ours: FlyMachine[]; theirs: { id: string; owner?: string }[] }> {
    const list = await client.listMachines(app, { [META.key]: key });
    const ours: FlyMachine[] = [];
    const theirs: { id: string; owner?: string }[] = [];
    for (const m of list) {
      if (m.state === 'destroyed' || m.state === 'destroying') continue;
      const meta = readForgeMeta(m.config?.metadata, projectId);
      if (!meta) continue;
      if (meta.owner === owner) ours.push(m);
      else {
        theirs.push({ id: m.id, ...(meta.owner ? { owner: meta.owner } : {}) });
        reportUnowned(app, { id: m.id, key, ...(meta.owner ? { owner: meta.owner } : {}) });
      }
    }
    return { ours, theirs };
  }

  async function findRemote(app: string, key: string, replica: number): Promise<FlyMachine | undefined> {
    const { ours, theirs } = await listRemote(app, key);
    if (theirs.length > 0) throw notOurs(app, key, theirs);
    return ours.find((m) => readForgeMeta(m.config?.metadata, projectId)?.replica === replica);
  }

  async function settle(app: string, id: string, state: 'started' | 'stopped', version?: string): Promise<void> {
    if (waitTimeoutSeconds <= 0) return;
    try {
      const res = await client.waitMachine(app, id, state, waitTimeoutSeconds, version);
      cache.patch(id, { flyState: res.state ?? state });
    } catch {
      // Not settled yet (or the wait failed): the next resync reports where it is.
    }
  }

  function refuseOtherRegion(key: string, region: string): void {
    const other = cache.forKey(key).find((m) => m.region !== region);
    if (other) {
      throw new ForgeError('E_REGION_IMMUTABLE', `service ${key} runs in ${other.region}; Fly machines cannot move to ${region}. Delete and recreate the service to change region.`, {
        details: { current: other.region, requested: region }, terminal: true,
      });
    }
  }

  async function create(action: Extract<Action, { kind: 'create' }>, ctx: ApplyContext): Promise<ApplyResult> {
    const { key, replica, spec } = action;
    refuseOtherRegion(key, spec.region);
    const known = cache.forKey(key).find((m) => m.replica === replica);
    if (known) return { instanceId: known.id, url: flyAppUrl(known.app), message: 'machine already exists' };
    const config = machineConfig(spec, { key, replica, generation: action.generation, hash: action.hash, projectId, owner });
    const { app, fresh } = await ensureApp(key);
    if (!fresh) {
      const adopted = await findRemote(app, key, replica);
      if (adopted) {
        const cached = remember(app, adopted, action);
        refuseOtherRegion(key, spec.region);
        return { instanceId: cached.id, url: flyAppUrl(app), message: 'adopted existing machine' };
      }
    }
    const minSecrets = await syncAppSecrets(client, app, ctx.secrets, fresh);
    const body = { config, region: spec.region, ...(minSecrets === undefined ? {} : { min_secrets_version: minSecrets }) };
    let machine: FlyMachine | undefined;
    for (let attempt = 1; !machine; attempt++) {
      try {
        machine = await client.createMachine(app, body);
      } catch (err) {
        // The create may have happened: look before trying again, so a retry never makes a twin.
        if (!isAmbiguousFlyError(err) || attempt >= CREATE_ATTEMPTS) throw err;
        machine = await findRemote(app, key, replica);
      }
    }
    const cached = remember(app, machine, action);
    await settle(app, cached.id, 'started', cached.version);
    return { instanceId: cached.id, url: flyAppUrl(app) };
  }

  async function loadMachine(app: string, id: string): Promise<CachedMachine> {
    const cached = cache.get(id);
    if (cached) return cached;
    const remote = await client.getMachine(app, id);
    if (!remote) throw new ForgeError('E_NOT_FOUND', `Fly machine ${id} of ${app} does not exist`);
    return remember(app, remote);
  }

  /**
   * A relabel (`update` with nothing changed): the machine already runs an equivalent
   * spec under another hash. Only its metadata changes, through Fly's metadata
   * endpoint, which neither bumps the config version nor restarts the machine.
   * False when the machine changed since we read it: the caller does a full update.
   */
  async function relabel(app: string, current: CachedMachine, action: Extract<Action, { kind: 'update' }>): Promise<boolean> {
    try {
      await client.updateMetadata(app, current.id, { [META.hash]: action.hash, [META.generation]: String(action.generation) }, current.version || undefined);
    } catch (err) {
      if (!isFlyStatus(err, 409, 412)) throw err;
      const fresh = await client.getMachine(app, current.id);
      if (!fresh) throw new ForgeError('E_NOT_FOUND', `Fly machine ${current.id} of ${app} disappeared during a relabel`);
      remember(app, fresh);
      return false;
    }
    cache.patch(current.id, { hash: action.hash, generation: action.generation, spec: action.spec });
    return true;
  }

  async function update(action: Extract<Action, { kind: 'update' | 'replace' }>, ctx: ApplyContext): Promise<ApplyResult> {
    const { key, spec, instanceId } = action;
    const app = appName(key);
    let current = await loadMachine(app, instanceId);
    if (current.region !== spec.region) refuseOtherRegion(key, spec.region);
    if (action.kind === 'update' && action.changed.length === 0) {
      if (await relabel(app, current, action)) return { instanceId, url: flyAppUrl(app), message: 'relabelled (metadata only, no restart)' };
      current = cache.get(instanceId) ?? current;
    }
    const config = machineConfig(spec, { key, replica: action.replica, generation: action.generation, hash: action.hash, projectId, owner });
    const minSecrets = await syncAppSecrets(client, app, ctx.secrets, false);
    // A stopped service stays stopped through an update; a running one restarts on the new version.
    const stayStopped = current.flyState === 'stopped' || current.flyState === 'suspended';
    let version = current.version;
    let machine: FlyMachine | undefined;
    for (let attempt = 1; !machine; attempt++) {
      try {
        machine = await client.updateMachine(app, instanceId, {
          config,
          current_version: version,
          ...(minSecrets === undefined ? {} : { min_secrets_version: minSecrets }),
          ...(stayStopped ? { skip_launch: true } : {}),
        });
      } catch (err) {
        if (!isFlyStatus(err, 409, 412) || attempt >= UPDATE_ATTEMPTS) throw err;
        // Stale version: someone (possibly our own earlier attempt) changed it. Re-read.
        const fresh = await client.getMachine(app, instanceId);
        if (!fresh) throw new ForgeError('E_NOT_FOUND', `Fly machine ${instanceId} of ${app} disappeared during an update`);
        const meta = readForgeMeta(fresh.config?.metadata, projectId);
        if (meta?.hash === action.hash && fresh.config?.image === config.image) machine = fresh;
        else version = fresh.version ?? fresh.instance_id ?? version;
      }
    }
    const cached = remember(app, machine, action);
    await settle(app, instanceId, stayStopped ? 'stopped' : 'started', cached.version);
    return { instanceId, url: flyAppUrl(app) };
  }

  async function destroy(key: string, instanceId: string | undefined): Promise<ApplyResult> {
    const app = appName(key);
    if (instanceId) {
      await client.deleteMachine(app, instanceId, true);
      cache.remove(instanceId);
      return { instanceId, message: 'machine destroyed' };
    }
    for (const m of cache.forKey(key)) {
      await client.deleteMachine(m.app, m.id, true);
      cache.remove(m.id);
    }
    // The app goes only when nothing else lives in it: deleting an app destroys every machine in it.
    const left = (await client.listMachines(app)).filter((m) => m.state !== 'destroyed' && m.state !== 'destroying');
    if (left.length > 0) {
      for (const m of left) {
        const meta = readForgeMeta(m.config?.metadata, projectId);
        reportUnowned(app, { id: m.id, key, ...(meta?.owner ? { owner: meta.owner } : {}) });
      }
      cache.forgetApp(key);
      readyApps.delete(app);
      return { message: `machines of ${key} destroyed; app ${app} kept: it holds machine(s) ${left.map((m) => m.id).join(', ')} this control plane did not create` };
    }
    await client.deleteApp(app);
    cache.forgetApp(key);
    readyApps.delete(app);
    return { message: `app ${app} destroyed` };
  }

  async function startStop(key: string, instanceId: string, kind: 'start' | 'stop'): Promise<ApplyResult> {
    const app = appName(key);
    if (kind === 'start') await client.startMachine(app, instanceId);
    else await client.stopMachine(app, instanceId);
    cache.patch(instanceId, { flyState: kind === 'start' ? 'starting' : 'stopping' });
    await settle(app, instanceId, kind === 'start' ? 'started' : 'stopped');
    return { instanceId, url: flyAppUrl(app) };
  }

  /** All Forge machines of the org (full) or those changed since the last listing, and the newest update seen. */
  async function listAll(full: boolean): Promise<{ listed: { machine: CachedMachine; gone: boolean }[]; newest: number | undefined }> {
    const out: { machine: CachedMachine; gone: boolean }[] = [];
    let newest = highWater;
    const updatedAfter = !full && highWater !== undefined ? new Date(highWater - overlapMs).toISOString() : undefined;
    let cursor: string | undefined;
    for (let page = 0; page < 10_000; page++) {
      const res = await client.listOrgMachines({
        limit: 1000,
        ...(cursor ? { cursor } : updatedAfter ? { updatedAfter } : {}),
        ...(full ? {} : { includeDeleted: true }),
      });
      for (const m of res.machines ?? []) {
        const at = m.updated_at ? Date.parse(m.updated_at) : undefined;
        if (at !== undefined && !Number.isNaN(at) && (newest === undefined || at > newest)) newest = at;
        const cached = m.app_name ? fromMachine(m.app_name, m, projectId) : undefined;
        if (cached && cached.owner !== owner) {
          if (m.state !== 'destroyed') reportUnowned(cached.app, cached);
          continue;
        }
        if (cached) out.push({ machine: cached, gone: m.state === 'destroyed' });
      }
      if (!res.next_cursor || (res.machines ?? []).length === 0) break;
      cursor = res.next_cursor;
    }
    return { listed: out, newest };
  }

  /**
   * Org listings carry no check results. Read them for started machines whose health
   * is not known to be good, then for the longest-unchecked healthy ones; a bounded
   * number per resync, so the cost never grows with the number of services.
   */
  async function probeHealth(): Promise<void> {
    const t = now();
    const candidates = cache
      .all()
      .filter((m) => m.flyState === 'started')
      .map((m) => ({ m, healthy: instanceHealth('running', m.checks) === 'healthy' }))
      .filter(({ m, healthy }) => !healthy || t - (m.checkedAt ?? 0) >= healthRecheckMs)
      .sort((a, b) => Number(a.healthy) - Number(b.healthy) || (a.m.checkedAt ?? 0) - (b.m.checkedAt ?? 0))
      .slice(0, probes);
    // A few at a time: the probes are independent reads, and a resync should cost
    // about one round trip per batch, not one per machine.
    for (let i = 0; i < candidates.length; i += PROBE_PARALLELISM) {
      await Promise.all(
        candidates.slice(i, i + PROBE_PARALLELISM).map(async ({ m }) => {
          const remote = await client.getMachine(m.app, m.id);
          if (remote?.state === 'started') cache.setChecks(m.id, remote.checks ?? []);
        }),
      );
    }
  }

  async function doResync(): Promise<void> {
    const startedAt = now();
    const full = highWater === undefined || syncCount % fullEvery === 0;
    const { listed, newest } = await listAll(full);
    if (full) cache.replaceAll(listed, startedAt);
    else cache.applyDelta(listed, startedAt);
    // Only a listing that finished moves the mark (Fly's clock, never ours): a failed one is repeated from the same point.
    highWater = newest;
    syncCount += 1;
    lastSyncAt = startedAt;
    await probeHealth();
  }

  const provider: FlyProvider = {
    name: 'fly',
    capabilities: { updateInPlace: true, runsImages: true, runsSource: false, remoteBuilds: true, routing: 'provider', oneOffs: true, registryPerService: true },
    appName,

    async runOneOff(request: OneOffRequest, ctx: OneOffContext): Promise<OneOffResult> {
      refuseOtherRegion(request.key, request.spec.region);
      const config = oneOffMachineConfig(request, { projectId, owner });
      const { app, fresh } = await ensureApp(request.key);
      const minSecrets = await syncAppSecrets(client, app, ctx.secrets, fresh);
      return runFlyOneOff({ client, app, config, region: request.spec.region, now: Date.now, ...(minSecrets === undefined ? {} : { minSecretsVersion: minSecrets }) }, request, ctx);
    },

    resync: (force = false) => gate(force),

    async observe(keys?: readonly string[]): Promise<Observed[]> {
      // With no picture yet there is nothing to serve but a listing. After that a due
      // refresh runs in the background: a reconcile never waits on an org-wide listing
      // (and the health probes after it), it reads what the cache knows now.
      if (syncCount === 0) await provider.resync(false);
      else provider.resync(false).catch(() => undefined);
      return cache.observed(keys);
    },

    async apply(action: Action, ctx: ApplyContext): Promise<ApplyResult> {
      switch (action.kind) {
        case 'create':
          return create(action, ctx);
        case 'update':
        case 'replace':
          return update(action, ctx);
        case 'start':
        case 'stop':
          return startStop(action.key, action.instanceId, action.kind);
        case 'destroy':
          return destroy(action.key, action.instanceId);
        case 'noop':
          return { message: 'nothing to do' };
        case 'error':
          throw new ForgeError(action.code, action.reason);
      }
    },

    async events(key: string): Promise<ProviderEvent[]> {
      const out: ProviderEvent[] = [];
      for (const m of cache.forKey(key)) {
        const events = await client.machineEvents(m.app, m.id, 50);
        // Fly lists newest first; reversed, a stable sort keeps same-millisecond events in order.
        out.push(...events.map((e) => providerEvent(key, m.id, e)).reverse());
      }
      return out.sort((a, b) => a.time - b.time);
    },

    async mintDeployToken(name: string, ttlSeconds = 20 * 60): Promise<DeployToken> {
      const { app } = await ensureApp(name);
      const token = await client.createDeployToken(app, `${ttlSeconds}s`);
      return { app, token, expiresAt: now() + ttlSeconds * 1000 };
    },

    prepareSourceDeploy(name: string, o: { label?: string } = {}): Promise<SourceDeployPlan> {
      return prepareSourceDeploy(provider, name, { ...o, now });
    },
  };
  return provider;
}
