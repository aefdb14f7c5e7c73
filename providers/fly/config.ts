// Pure mappings between Forge and Fly: ServiceSpec → machine config (with the
// metadata observe reads back), Fly machine states/checks → Forge instance
// state/health, and Fly machine events → ProviderEvent.

import { ForgeError } from '../../errors/index.ts';
import type { ServiceSpec } from '../../specs/types.ts';
import type { InstanceHealth, InstanceState, ProviderEvent } from '../types.ts';
import type { FlyCheckStatus, FlyMachineCheckConfig, FlyMachineConfig, FlyMachineEvent } from './api-types.ts';

export const META = {
  key: 'forge_key',
  generation: 'forge_generation',
  hash: 'forge_hash',
  replica: 'forge_replica',
  project: 'forge_project',
  /** The control plane that created the machine: the only proof Forge accepts that it may change or destroy it. */
  owner: 'forge_owner',
} as const;

export interface ForgeMachineMeta {
  key: string;
  replica: number;
  generation: number;
  hash: string;
  /** The creating control plane's id; absent on machines made before owner labels. */
  owner?: string;
}

/** Go-style duration strings, as Fly's checks expect ("10s", "1500ms"). */
export function flyDuration(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

function healthCheck(spec: ServiceSpec): FlyMachineCheckConfig {
  const common = {
    port: spec.port,
    interval: flyDuration(spec.health.intervalMs),
    timeout: flyDuration(spec.health.timeoutMs),
    grace_period: flyDuration(spec.health.graceMs ?? Math.max(spec.health.intervalMs, 5_000)),
  };
  if (spec.health.type === 'tcp') return { type: 'tcp', ...common };
  return { type: 'http', method: 'GET', path: spec.health.path, protocol: 'http', ...common };
}

/**
 * The machine config for one replica. Secret values never appear here: they go to
 * the app's secrets (Fly's vault), which machines receive as env at boot.
 */
export function machineConfig(spec: ServiceSpec, meta: ForgeMachineMeta & { projectId: string; owner: string }): FlyMachineConfig {
  if (!spec.image) {
    throw new ForgeError('E_SPEC_INVALID', `service ${spec.name}: a Fly machine needs an image (source deploys set one after the flyctl build)`);
  }
  return {
    image: spec.image,
    guest: {
      cpu_kind: spec.resources.cpuKind,
      cpus: Math.max(1, Math.round(spec.resources.cpus)),
      memory_mb: spec.resources.memoryMb,
    },
    env: { ...spec.env },
    services: [
      {
        protocol: 'tcp',
        internal_port: spec.port,
        ports: [
          { port: 80, handlers: ['http'], force_https: false },
          { port: 443, handlers: ['tls', 'http'] },
        ],
        autostop: spec.autoStop ? 'stop' : 'off',
        autostart: true,
        min_machines_running: 0,
        checks: [healthCheck(spec)],
      },
    ],
    restart: { policy: 'on-failure', max_retries: 10 },
    metadata: {
      [META.key]: meta.key,
      [META.replica]: String(meta.replica),
      [META.generation]: String(meta.generation),
      [META.hash]: meta.hash,
      [META.project]: meta.projectId,
      [META.owner]: meta.owner,
    },
  };
}

/** Forge's labels on a machine, or undefined when it is not a Forge machine of this project. */
export function readForgeMeta(metadata: Record<string, string> | undefined, projectId: string): ForgeMachineMeta | undefined {
  if (!metadata) return undefined;
  const key = metadata[META.key];
  if (!key || metadata[META.project] !== projectId) return undefined;
  const replica = Number(metadata[META.replica] ?? '0');
  const generation = Number(metadata[META.generation] ?? '0');
  return {
    key,
    replica: Number.isInteger(replica) && replica >= 0 ? replica : 0,
    generation: Number.isFinite(generation) ? generation : 0,
    hash: metadata[META.hash] ?? '',
    ...(metadata[META.owner] ? { owner: metadata[META.owner] } : {}),
  };
}

const STATES: Record<string, InstanceState | null> = {
  created: 'creating',
  starting: 'starting',
  started: 'running',
  replacing: 'starting',
  updating: 'starting',
  stopping: 'stopping',
  suspending: 'stopping',
  stopped: 'stopped',
  suspended: 'stopped',
  failed: 'failed',
  launch_failed: 'failed',
  destroying: null,
  destroyed: null,
  replaced: null,
};

/** Fly state → Forge state; null when the machine is gone (or going) and must not be observed. */
export function instanceState(flyState: string | undefined): InstanceState | null {
  if (flyState === undefined) return 'creating';
  return flyState in STATES ? STATES[flyState]! : 'failed';
}

export function instanceHealth(state: InstanceState | null, checks: FlyCheckStatus[] | undefined): InstanceHealth {
  if (state !== 'running' || !checks || checks.length === 0) return 'unknown';
  if (checks.some((c) => c.status === 'critical')) return 'unhealthy';
  return checks.every((c) => c.status === 'passing') ? 'healthy' : 'unknown';
}

interface ExitEvent {
  exit_code?: unknown;
  oom_killed?: unknown;
}

export function providerEvent(key: string, instanceId: string, e: FlyMachineEvent): ProviderEvent {
  const exit = (e.request?.['exit_event'] ?? undefined) as ExitEvent | undefined;
  return {
    key,
    instanceId,
    time: e.timestamp ?? 0,
    source: e.source ?? 'flyd',
    type: e.type ?? 'unknown',
    status: e.status ?? '',
    ...(typeof exit?.exit_code === 'number' ? { exitCode: exit.exit_code } : {}),
    ...(typeof exit?.oom_killed === 'boolean' ? { oomKilled: exit.oom_killed } : {}),
  };
}
