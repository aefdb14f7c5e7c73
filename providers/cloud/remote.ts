// Pure mappings between Forge and a remote Forge-compatible compute API: the
// upsert body from a spec, and the remote service JSON → Observed.
//
// Ownership: every upsert carries this control plane's owner label, which the remote
// keeps as the service's `source`; only services carrying it are ours.
//
// The remote does not carry Forge's spec hash. The provider remembers, per key,
// the hash it last upserted and the remote generation that upsert produced;
// while the remote is still on that generation its instances carry our hash.
// A remote generation we did not make (someone changed it there, or this
// process restarted) shows as `remote:<generation>` without a spec, so diff
// asks for a replace, which is one idempotent upsert.

import type { ServiceSpec } from '../../specs/types.ts';
import type { InstanceHealth, InstanceState, Observed, ObservedInstance } from '../types.ts';
import type { UpsertBody } from './client.ts';

export interface RemoteInstance {
  id: string;
  state?: string;
  health?: string;
  region?: string;
  agent?: string;
  machineId?: string;
  url?: string | null;
  port?: number;
}

export interface RemoteService {
  id: string;
  name: string;
  status?: string;
  url?: string | null;
  region?: string;
  replicas?: number;
  generation?: number;
  observedGeneration?: number;
  desiredState?: 'running' | 'stopped';
  /** Who owns it on the remote: `forge:<control-plane id>` for what a Forge in cloud mode created. */
  source?: string;
  instances?: RemoteInstance[];
  conditions?: { type?: string; status?: string; message?: string }[];
}

/** What this process last wrote for a key. */
export interface AppliedRecord {
  hash: string;
  generation: number;
  spec: ServiceSpec;
  remoteGeneration: number | undefined;
}

/** `shared-2x`-style tier from the spec's cpu count and kind. */
export function cpuTier(spec: ServiceSpec): string {
  return `${spec.resources.cpuKind}-${Math.max(1, Math.round(spec.resources.cpus))}x`;
}

/** The owner label this control plane writes on the remote services it creates. */
export function ownerLabel(controlPlaneId: string): string {
  return `forge:${controlPlaneId}`;
}

/** The upsert body. Secret values ride in envVars (the remote encrypts them); nothing here is logged. */
export function upsertBody(spec: ServiceSpec, secrets: Record<string, string>, owner: string, provider?: string): UpsertBody {
  return {
    name: spec.name,
    image: spec.image ?? '',
    port: spec.port,
    cpu: cpuTier(spec),
    memory: spec.resources.memoryMb,
    region: spec.region,
    replicas: spec.replicas,
    envVars: { ...spec.env, ...secrets },
    source: owner,
    ...(provider ? { provider } : {}),
  };
}

const INSTANCE_STATES: Record<string, InstanceState> = {
  creating: 'creating',
  pending: 'creating',
  created: 'creating',
  starting: 'starting',
  deploying: 'starting',
  running: 'running',
  started: 'running',
  stopping: 'stopping',
  stopped: 'stopped',
  failed: 'failed',
  destroying: 'stopping',
};

/** A remote state word → Forge's; words we do not know are treated as still starting, never as failed. */
export function remoteInstanceState(state: string | undefined): InstanceState {
  return (state && INSTANCE_STATES[state]) || 'starting';
}

export function remoteHealth(health: string | undefined): InstanceHealth {
  return health === 'healthy' || health === 'unhealthy' ? health : 'unknown';
}

/** The service's phase as the state of an instance that has not appeared yet. */
function placeholderState(status: string | undefined): InstanceState {
  if (status === 'stopped') return 'stopped';
  if (status === 'failed') return 'failed';
  return status === 'running' ? 'starting' : remoteInstanceState(status);
}

export function toObserved(remote: RemoteService, applied: AppliedRecord | undefined): Observed {
  const ours = applied !== undefined && applied.remoteGeneration !== undefined && applied.remoteGeneration === remote.generation;
  const label = ours
    ? { hash: applied.hash, generation: applied.generation, spec: applied.spec }
    : { hash: `remote:${remote.generation ?? 0}`, generation: 0 };
  const base = (id: string, replica: number) => ({ id, key: remote.name, replica, ...label });
  const failedReason = remote.conditions?.find((c) => c.type === 'Ready' && c.status === 'False')?.message;
  const instances: ObservedInstance[] = [...(remote.instances ?? [])]
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    .map((i, replica) => ({
      ...base(i.id, replica),
      region: i.region ?? remote.region ?? '',
      state: remoteInstanceState(i.state),
      health: remoteHealth(i.health),
      ...(i.agent ? { agent: i.agent } : {}),
      ...(i.machineId ? { machineId: i.machineId } : {}),
    }));
  // Replicas the remote has not started yet stand in as placeholders in the
  // service's phase, so diff waits for the remote instead of asking again.
  const wanted = remote.status === 'destroying' ? 0 : (remote.replicas ?? 1);
  for (let replica = instances.length; replica < wanted; replica++) {
    const state = placeholderState(remote.status);
    instances.push({
      ...base(`${remote.id}#${replica}`, replica),
      region: remote.region ?? '',
      state,
      health: 'unknown',
      ...(state === 'failed' && failedReason ? { reason: failedReason } : {}),
    });
  }
  return { key: remote.name, instances, ...(remote.url ? { url: remote.url } : {}) };
}
