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
   * Each service is an app of its own at the provider, with an image registry a client pushes its own
   * source build to using a short-lived deploy token (Fly: `registry.fly.io/<app>`). Such a service gets
   * deploy tokens, runs only images from its own app's registry, and shows its app id. Undeclared: no.
   */
  registryPerService?: boolean;
  /**
   * It builds a Dockerfile folder on its own remote builder, pushed by the client with a
   * short-lived deploy token (POST /api/compute/services/deploy), and runs the image. Undeclared: no.
   */
  remoteBuilds?: boolean;
  /**
   * It runs one-off commands (runOneOff): a release command before a rollout, `forge run`.
   * Undeclared: no (a spec with `release.command` is refused for it, never rolled out without one).
   */
  oneOffs?: boolean;
  /**
   * It pulls images by the digest Forge resolved when the spec was written (spec.revision),
   * so Forge pins tags for it; without, the provider resolves tags itself. Undeclared: no.
   */
  pinsImages?: boolean;
}

/** One command run to its end in a fresh sandbox (or machine) of a release: never routed. */
export interface OneOffRequest {
  key: string;
  /** Unique per run; a provider labels its remote object with it (idempotent start). */
  runId: string;
  purpose: 'release' | 'run';
  spec: ServiceSpec;
  hash: string;
  generation: number;
  /** Run through /bin/sh -c in the release's directory (agents) or as the image's command (Fly). */
  command: string;
  timeoutMs: number;
  /** Return once it started (its output goes to the log store) instead of waiting for its end. */
  detach?: boolean;
}

export interface OneOffResult {
  /** The command's exit code; null when it never ran to an exit (killed at its timeout, lost). */
  exitCode: number | null;
  /** It was killed at its timeout. */
  timedOut?: boolean;
  /**
   * It may have started but its end was not seen (an agent died mid-run, a lease was lost): the
   * caller must not run it again on its own.
   */
  mayHaveRun?: boolean;
  /** The last output lines (secrets masked). */
  lastLines: string[];
  message: string;
  /** Where it ran (agent task id, machine id). */
  ref?: string;
}

export interface OneOffContext extends ApplyContext {
  /** Each output line as it comes (secrets masked). */
  onLine?(line: string): void;
  /** Called once the run has a provider-side id, before it can have started. */
  onRef?(ref: string): void;
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
  /** Runs one command in a fresh sandbox of a release (capabilities.oneOffs). Never throws for the command's own failure. */
  runOneOff?(request: OneOffRequest, ctx: OneOffContext): Promise<OneOffResult>;
  events(key: string): Promise<ProviderEvent[]>;
  /** Refreshes the cache from the remote side; rate-limited by the provider itself. */
  resync?(force?: boolean): Promise<void>;
  /** Subscribe to "something about this key changed" nudges (agent reports, machine events). */
  onChange?(listener: (key: string) => void): () => void;
  close?(): Promise<void>;
}
