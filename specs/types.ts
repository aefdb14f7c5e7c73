// The normalized service spec: the one shape every room consumes. The YAML a
// person writes (see schemas/service.schema.json) is mapped onto this by
// specs/normalize.ts; units are resolved, defaults filled in, aliases merged.

export type ProviderName = 'agent' | 'fly' | 'cloud';
export type CpuKind = 'shared' | 'performance';

export interface HealthSpec {
  /** 'http' probes `path`; 'tcp' only checks that the port accepts connections (used when a spec turns health off). */
  type: 'http' | 'tcp';
  path: string;
  intervalMs: number;
  timeoutMs: number;
  retries: number;
  /**
   * How long a new instance may take to become healthy (port open and first passing check).
   * Absent unless the spec gives `health.grace`, so specs without it keep their hash; the
   * agent then uses its own default (60 s), Fly a grace of max(interval, 5 s).
   */
  graceMs?: number;
}

export interface ResourceSpec {
  memoryMb: number;
  /** CPU count: fractional for agents (0.5), the tier's count for Fly (shared-2x → 2). */
  cpus: number;
  cpuKind: CpuKind;
}

export interface BuildSpec {
  /** Shell commands run in order in the source directory (agent builds). */
  commands: string[];
  /** A Dockerfile path relative to the source directory (Fly source deploys). */
  dockerfile?: string;
}

/** The release phase (schemas/service.schema.json `release`). */
export interface ReleaseCommandSpec {
  command: string;
  timeoutMs: number;
}

/** One cron job of a service (the `jobs:` mapping; see docs/spec.md#jobs). */
export interface JobSpec {
  /** The key under `jobs:`; a DNS label. A job is named `SERVICE/NAME` outside its spec. */
  name: string;
  /** A 5-field cron expression or a macro (`@hourly`, `@daily`, …), as written. */
  schedule: string;
  /** IANA zone the schedule's wall clock is read in. */
  timezone: string;
  /** Run through /bin/sh -c in a fresh sandbox with the service's current release and environment. */
  command: string;
  timeoutMs: number;
  /** A tick while a run of this job is still going: `forbid` skips it, `allow` starts another, `replace` stops the old one first. */
  concurrency: 'forbid' | 'allow' | 'replace';
  /** Ticks that passed while nothing could start them (downtime): `skip` them, or `run-once` for the newest. */
  missed: 'skip' | 'run-once';
  /** Finished runs kept per job (older rows are pruned). */
  history: number;
}

export interface ServiceSpec {
  name: string;
  provider: ProviderName;
  runtime?: string;
  /** Image mode: a container image reference. Exclusive with build/run. */
  image?: string;
  build?: BuildSpec;
  /** Source mode: the command that starts the app, run through /bin/sh -c with $PORT set. */
  run?: { command: string };
  /** Absolute directory holding the service's source (source mode only). */
  sourceDir?: string;
  /**
   * What version of the source this is: a git commit for webhook deploys, a content
   * digest of sourceDir for `forge dev`. Not a YAML key: set by whoever applies, so a
   * source change is a new generation (and a new release) even when the YAML is the same.
   */
  revision?: string;
  port: number;
  resources: ResourceSpec;
  region: string;
  /** Plain, non-secret values. Secret values never appear in a spec. */
  env: Record<string, string>;
  /** Names of secrets whose values live only in the encrypted store. Sorted. */
  secrets: string[];
  replicas: number;
  /** Extra host names routed to the service, sorted. */
  domains: string[];
  autoStop: boolean;
  /** Only present as `false` (outbound connections of the running app off); absent means on, so older hashes stay. */
  egress?: false;
  health: HealthSpec;
  /** Run once per new release before any of its instances starts; absent when the spec has none (older hashes stay). */
  release?: ReleaseCommandSpec;
  /** Cron jobs, sorted by name; absent when the spec has none (so older hashes stay). */
  jobs?: JobSpec[];
}

export const SPEC_DEFAULTS = {
  provider: 'agent' as ProviderName,
  port: 8080,
  memoryMb: 512,
  cpuTier: 'shared-1x',
  region: 'iad',
  replicas: 1,
  releaseTimeoutMs: 5 * 60_000,
  health: { type: 'http' as const, path: '/health', intervalMs: 10_000, timeoutMs: 3_000, retries: 3 },
  job: { timezone: 'UTC', timeoutMs: 3_600_000, concurrency: 'forbid' as const, missed: 'run-once' as const, history: 20 },
};
