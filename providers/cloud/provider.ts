// The cloud provider: proxies services to a remote Forge-compatible compute API
// (InsForge-style), one remote service per key, upserted by name. The remote
// runs its own reconciler, so this provider acts per service, never per
// instance: create/update/replace are one upsert, start/stop are the service's,
// destroy of the key is a DELETE, and a destroy of one instance is left to the
// remote (it converges to the replicas it was given).
//
// Ownership: a remote project is shared (other people, other control planes), so
// being in PROJECT_ID proves nothing. Every upsert carries this control plane's
// owner label (`forge:<control-plane id>`, the remote's `source`); only services
// carrying it are observed, updated, started, stopped or deleted. Any other service
// is reported once and never touched, and a desired service whose name is taken by
// one is refused with E_CONFLICT (looked at again every resync). Services created
// before owner labels existed carry none: they are reported, not deleted.
//
// observe() reads a cache: one GET of the whole list per resync, at most once
// per `resyncIntervalMs`, plus what our own writes return.

import { ForgeError } from '../../errors/index.ts';
import type { Action, ApplyContext, ApplyResult, Observed, Provider, ProviderEvent } from '../types.ts';
import type { CloudClient } from './client.ts';
import { ownerLabel, toObserved, upsertBody, type AppliedRecord, type RemoteService } from './remote.ts';
import { createResyncGate } from '../resync-gate.ts';

export interface CloudProviderOptions {
  client: CloudClient;
  /** This control plane's id (api/control-plane-id.ts): the owner label of what it creates. */
  controlPlaneId: string;
  /** The remote provider to deploy on (CLOUD_PROVIDER); left out, the remote picks one that runs images. */
  remoteProvider?: string;
  /** Told once per remote service that is not ours (an operator log line). */
  report?: (message: string) => void;
  now?: () => number;
  /** Minimum time between two unforced list calls. Default 15 s. */
  resyncIntervalMs?: number;
}

export type CloudProvider = Provider & { resync(force?: boolean): Promise<void> };

export function createCloudProvider(opts: CloudProviderOptions): CloudProvider {
  const { client } = opts;
  const now = opts.now ?? Date.now;
  const interval = opts.resyncIntervalMs ?? 15_000;
  const owner = ownerLabel(opts.controlPlaneId);
  const report = opts.report ?? (() => {});
  /** Services this control plane owns, by name. */
  const remote = new Map<string, RemoteService>();
  /** Services of the project it does not own, by name: never touched. */
  const foreign = new Map<string, RemoteService>();
  const reported = new Set<string>();
  const applied = new Map<string, AppliedRecord>();
  /** Local time of our last write per key: a list that started earlier must not undo it. */
  const writtenAt = new Map<string, number>();
  let lastSyncAt = -Infinity;
  let synced = false;
  const gate = createResyncGate(() => doResync(), () => now() - lastSyncAt >= interval);

  function record(service: RemoteService): void {
    remote.set(service.name, service);
    writtenAt.set(service.name, now());
  }

  async function doResync(): Promise<void> {
    const startedAt = now();
    const listed = await client.list();
    const seen = new Set<string>();
    foreign.clear();
    for (const s of listed) {
      if (s.source !== owner) {
        noteForeign(s);
        continue;
      }
      seen.add(s.name);
      if ((writtenAt.get(s.name) ?? -Infinity) < startedAt) remote.set(s.name, s);
    }
    for (const name of [...remote.keys()]) {
      if (!seen.has(name) && (writtenAt.get(name) ?? -Infinity) < startedAt) remote.delete(name);
    }
    lastSyncAt = startedAt;
    synced = true;
  }

  function noteForeign(s: RemoteService): void {
    foreign.set(s.name, s);
    if (reported.has(s.id)) return;
    reported.add(s.id);
    report(`cloud service ${s.name} (${s.id}) was not created by this control plane (owner ${s.source ? JSON.stringify(s.source) : 'none'}, ours ${owner}): left alone, never updated or deleted`);
  }

  function refuseForeign(key: string): void {
    const theirs = foreign.get(key);
    if (!theirs) return;
    throw new ForgeError('E_CONFLICT',
      `a cloud service named ${key} already exists in the remote project and was not created by this control plane ` +
      `(owner ${theirs.source ? JSON.stringify(theirs.source) : 'none'}, ours ${owner}); Forge does not adopt, change or delete it. ` +
      'Rename this service, or remove that one on the remote', { details: { owner: theirs.source ?? null }, terminal: true });
  }

  async function upsert(action: Extract<Action, { kind: 'create' | 'update' | 'replace' }>, ctx: ApplyContext): Promise<ApplyResult> {
    const prev = applied.get(action.key);
    const current = remote.get(action.key);
    // Replicas of one service each ask for the same upsert: one call is enough.
    if (prev && prev.hash === action.hash && current && current.generation === prev.remoteGeneration) {
      return { ...(current.url ? { url: current.url } : {}), message: 'remote already has this release' };
    }
    refuseForeign(action.key);
    if (!action.spec.image) {
      throw new ForgeError('E_SPEC_INVALID', `service ${action.key}: the cloud provider deploys images; this spec has none`, { terminal: true });
    }
    const service = await client.upsert(upsertBody(action.spec, ctx.secrets, owner, opts.remoteProvider));
    if (service.source !== owner) {
      noteForeign(service);
      throw new ForgeError('E_PROVIDER', `the cloud compute API did not keep the owner label of ${action.key} (it answered source ${JSON.stringify(service.source ?? null)}): ` +
        'without it this control plane cannot prove the service is its own, so it will not manage it', { terminal: true });
    }
    record(service);
    applied.set(action.key, { hash: action.hash, generation: action.generation, spec: action.spec, remoteGeneration: service.generation });
    return { instanceId: service.id, ...(service.url ? { url: service.url } : {}) };
  }

  async function setRunning(key: string, running: boolean): Promise<ApplyResult> {
    refuseForeign(key);
    const current = remote.get(key);
    if (!current) throw new ForgeError('E_NOT_FOUND', `cloud service ${key} is not known remotely (yet); it is created first`);
    const want = running ? 'running' : 'stopped';
    if (current.desiredState === want) return { message: `already ${want}` };
    const service = await client.setRunning(current.id, running);
    if (!service) {
      remote.delete(key);
      throw new ForgeError('E_NOT_FOUND', `cloud service ${key} disappeared remotely`);
    }
    record(service);
    const prev = applied.get(key);
    // Start/stop does not change what the remote runs: keep our label on its new generation.
    if (prev && prev.remoteGeneration !== service.generation && prev.remoteGeneration === current.generation) {
      applied.set(key, { ...prev, remoteGeneration: service.generation });
    }
    return { instanceId: service.id };
  }

  async function destroy(key: string, instanceId: string | undefined): Promise<ApplyResult> {
    if (instanceId) return { instanceId, message: 'the remote manages its instances; it converges to the replicas it was given' };
    const current = remote.get(key);
    if (current) await client.remove(current.id);
    remote.delete(key);
    applied.delete(key);
    writtenAt.set(key, now());
    return { message: `cloud service ${key} deleted` };
  }

  const provider: CloudProvider = {
    name: 'cloud',
    capabilities: { updateInPlace: true, runsImages: true, runsSource: false, routing: 'provider' },

    resync: (force = false) => gate(force),

    async observe(keys?: readonly string[]): Promise<Observed[]> {
      if (!synced) await provider.resync(false);
      else provider.resync(false).catch(() => undefined);
      const names = keys ? [...new Set(keys)] : [...remote.keys()].sort();
      return names.map((key) => {
        const service = remote.get(key);
        return service ? toObserved(service, applied.get(key)) : { key, instances: [] };
      });
    },

    async apply(action: Action, ctx: ApplyContext): Promise<ApplyResult> {
      switch (action.kind) {
        case 'create':
        case 'update':
        case 'replace':
          return upsert(action, ctx);
        case 'start':
        case 'stop':
          return setRunning(action.key, action.kind === 'start');
        case 'destroy':
          return destroy(action.key, action.instanceId);
        case 'noop':
          return { message: 'nothing to do' };
        case 'error':
          throw new ForgeError(action.code, action.reason);
      }
    },

    async events(_key: string): Promise<ProviderEvent[]> {
      // The remote keeps its own event log (GET …/:id/events); Forge's events already record what we asked of it.
      return [];
    },

    async close(): Promise<void> {
      await gate.settled();
      await client.close();
    },
  };
  return provider;
}
