// The one boundary between the reconciler and the world. Decisions (diff) produce
// Actions as plain data; a Provider executes them. Every remote object a provider
// creates is labelled with the service key, so `observe` finds it again after a
// crash and a repeated `create` for the same key and replica is idempotent.

import type { ProviderName, ServiceSpec } from '../specs/types.ts';

export type InstanceState = 'creating' | 'starting' | 'running' | 'stopping' | 'stopped' | 'failed';
export type InstanceHealth = 'unknown' | 'healthy' | 'unhealthy';

export interface ObservedInstance {
  /** Provider-side id (Fly machine id, agent instance id). */
  id: string;
  /** Service key (its name): the label every remote object carries. */
  key: string;
  /** Replica slot, 0-based. */
  replica: number;
  /** Canonical hash of the spec this instance was created or last updated from. */
  hash: string;
  generation: number;
  /** The spec this instance runs, when the provider can tell (used to name changed fields). */
  spec?: ServiceSpec;
  region: string;
  state: InstanceState;
  health: InstanceHealth;
  /** Where it runs: an agent id or a Fly machine id. */
  agent?: string;
  machineId?: string;
  /** Direct address of this instance (host:port), when it has one. */
  address?: string;
  exitCode?: number;
  oomKilled?: boolean;
  /** Why the instance is failed or unhealthy, in words a person can act on. */
  reason?: string;
  /**
   * Crashes of this replica slot in a row and when the last one ended (epoch ms), for a
   * provider that counts them itself; reconciler/crash-backoff.ts spaces the replacements.
   */
  restarts?: number;
  exitedAt?: number;
}

export interface Observed {
  key: string;
  instances: ObservedInstance[];
  /** Public URL of the service as the provider sees it (Fly app hostname), if any. */
  url?: string;
}

/** A service's desired state as the reconciler hands it to diff(). */
export interface Desired {
  key: string;
  spec: ServiceSpec;
  hash: string;
  generation: number;
  /** `stopped` keeps the row, the app and the URL but runs nothing. */
  state: 'running' | 'stopped';
  /** Set when the row is being deleted (two-phase delete): everything observed must go. */
  deleting: boolean;
  /**
   * Keyed digest (HMAC) of the secret values the spec names, as they are now; never a value.
   * With it diff tells an instance started with older values from one whose hash moved for
   * another reason (a replicas change). Absent: the values are not looked at.
   */
  secretsDigest?: string;
}

interface ActionBase {
  key: string;
  /** Why this action, in words: shown by `forge diff`, events and logs. */
  reason: string;
}

export type Action =
  | (ActionBase & { kind: 'create'; replica: number; spec: ServiceSpec; hash: string; generation: number })
  | (ActionBase & { kind: 'update'; instanceId: string; replica: number; spec: ServiceSpec; hash: string; generation: number; changed: string[] })
  | (ActionBase & { kind: 'replace'; instanceId: string; replica: number; spec: ServiceSpec; hash: string; generation: number; changed: string[] })
  | (ActionBase & { kind: 'start'; instanceId: string })
  | (ActionBase & { kind: 'stop'; instanceId: string })
  /** Without instanceId: tear down everything the service owns remotely (its app, all instances). */
  | (ActionBase & { kind: 'destroy'; instanceId?: string })
  /** `blockedBy: 'bad-release'`: the desired release already failed; nothing rolls toward it until the spec changes. */
  | (ActionBase & { kind: 'noop'; blockedBy?: 'bad-release' })
  /** A change the reconciler refuses (region change). Terminal: not retried until the spec changes. */
  | (ActionBase & { kind: 'error'; code: 'E_REGION_IMMUTABLE' | 'E_SPEC_INVALID' });

export type ActionKind = Action['kind'];

export interface ProviderCapabilities {
  /** The provider can change image/port/cpu/memory/env of a running instance keeping its id. */
  updateInPlace: boolean;
  /**
   * Who sends traffic to its instances: `forge` — Forge's own router (Caddy) routes to the
   * instances' addresses, drains them before removal and gives the service its URL;
   * `provider` — the provider's own edge does (Fly's proxy). Undeclared: `provider`.
   */
  routing?: 'forge' | 'provider';
  /** It runs image-mode specs (a container image, or a Dockerfile built into one). Undeclared: no. */
  runsImages?: boolean;
  /** It builds and runs source-mode specs (build.commands + run.command from a folder). Undeclared: no. */
  runsSource?: boolean;
  /**
   * It pulls images by the digest Forge resolved when the spec was written (spec.revision),
   * so Forge pins tags for it; without, the provider resolves tags itself. Undeclared: no.
   */
  pinsImages?: boolean;
}

export interface ApplyContext {
  /** Decrypted secret values for this service: handed to the provider and nowhere else. */
  secrets: Record<string, string>;
  signal?: AbortSignal;
}

export interface ApplyResult {
  instanceId?: string;
  url?: string;
  message?: string;
}

export interface ProviderEvent {
  key: string;
  instanceId?: string;
  time: number;
  /** `[source] type: status` when formatted. */
  source: string;
  type: string;
  status: string;
  exitCode?: number;
  oomKilled?: boolean;
}

export interface Provider {
  readonly name: ProviderName;
  readonly capabilities: ProviderCapabilities;
  /**
   * Observed state for the given keys (all Forge-labelled objects when omitted),
   * served from a cache that the provider's own writes and a rate-limited resync
   * keep fresh. Never one remote read per service per call. Results are values:
   * never mutated after being returned (the loop's no-op pass compares them by
   * identity), so a provider hands out a new `instances` array when a key changes.
   */
  observe(keys?: readonly string[]): Promise<Observed[]>;
  apply(action: Action, ctx: ApplyContext): Promise<ApplyResult>;
  events(key: string): Promise<ProviderEvent[]>;
  /** Refreshes the cache from the remote side; rate-limited by the provider itself. */
  resync?(force?: boolean): Promise<void>;
  /** Subscribe to "something about this key changed" nudges (agent reports, machine events). */
  onChange?(listener: (key: string) => void): () => void;
  close?(): Promise<void>;
}
