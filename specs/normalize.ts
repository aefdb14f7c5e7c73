// Raw spec (already valid against the schema and the rules) → ServiceSpec:
// units resolved, aliases merged, defaults filled in, lists sorted, so that two
// specs meaning the same thing normalize to equal values (and equal hashes).

import { isAbsolute, resolve } from 'node:path';
import { SPEC_DEFAULTS, type HealthSpec, type JobSpec, type ResourceSpec, type ServiceSpec } from './types.ts';
import { parseCpuTier, parseDurationMs, parseMemoryMb } from './units.ts';

type Raw = Record<string, unknown>;

export interface NormalizeOptions {
  /** Directory the spec's `source` is relative to (the spec file's directory). */
  baseDir?: string;
}

function record(value: unknown): Raw {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Raw) : {};
}

function resources(raw: Raw): ResourceSpec {
  const nested = record(raw.resources);
  const memoryMb = parseMemoryMb(raw.memory ?? nested.memory) ?? SPEC_DEFAULTS.memoryMb;
  if (typeof nested.cpu === 'number') return { memoryMb, cpus: nested.cpu, cpuKind: 'shared' };
  const tier = parseCpuTier(raw.cpu ?? SPEC_DEFAULTS.cpuTier) ?? { kind: 'shared' as const, count: 1 };
  return { memoryMb, cpus: tier.count, cpuKind: tier.kind };
}

function health(value: unknown): HealthSpec {
  const defaults = SPEC_DEFAULTS.health;
  if (value === false) return { ...defaults, type: 'tcp' };
  const given = record(value);
  return {
    type: 'http',
    path: typeof given.path === 'string' ? given.path : defaults.path,
    intervalMs: parseDurationMs(given.interval) ?? defaults.intervalMs,
    timeoutMs: parseDurationMs(given.timeout) ?? defaults.timeoutMs,
    retries: typeof given.retries === 'number' ? given.retries : defaults.retries,
    ...graceOf(given.grace),
  };
}

function graceOf(value: unknown): { graceMs?: number } {
  const graceMs = parseDurationMs(value);
  return graceMs === undefined ? {} : { graceMs };
}

function jobs(value: unknown): JobSpec[] | undefined {
  const given = record(value);
  const names = Object.keys(given).sort();
  if (names.length === 0) return undefined;
  const d = SPEC_DEFAULTS.job;
  return names.map((name) => {
    const job = record(given[name]);
    return {
      name,
      schedule: String(job.schedule).trim(),
      timezone: typeof job.timezone === 'string' ? job.timezone : d.timezone,
      command: String(job.command),
      timeoutMs: parseDurationMs(job.timeout) ?? d.timeoutMs,
      concurrency: (job.concurrency as JobSpec['concurrency'] | undefined) ?? d.concurrency,
      missed: (job.missed as JobSpec['missed'] | undefined) ?? d.missed,
      history: typeof job.history === 'number' ? job.history : d.history,
    };
  });
}

/** The absolute source directory, or undefined when there is nothing to resolve it against. */
export function resolveSourceDir(source: unknown, baseDir: string | undefined): string | undefined {
  const relative = typeof source === 'string' ? source : '.';
  if (baseDir !== undefined) return resolve(baseDir, relative);
  return isAbsolute(relative) ? resolve(relative) : undefined;
}

function sortedStrings(value: unknown, transform: (s: string) => string = (s) => s): string[] {
  if (!Array.isArray(value)) return [];
  return [...new Set(value.map((item) => transform(String(item))))].sort();
}

function envStrings(value: unknown): Record<string, string> {
  const env: Record<string, string> = {};
  for (const key of Object.keys(record(value)).sort()) env[key] = String(record(value)[key]);
  return env;
}

export function normalizeSpec(raw: Raw, options: NormalizeOptions = {}): ServiceSpec {
  const build = raw.build === undefined ? undefined : record(raw.build);
  const run = record(raw.run);
  const spec: ServiceSpec = {
    name: String(raw.name),
    provider: (raw.provider as ServiceSpec['provider'] | undefined) ?? SPEC_DEFAULTS.provider,
    port: (raw.port as number | undefined) ?? (run.port as number | undefined) ?? SPEC_DEFAULTS.port,
    resources: resources(raw),
    region: (raw.region as string | undefined) ?? SPEC_DEFAULTS.region,
    env: envStrings(raw.env),
    secrets: sortedStrings(raw.secrets),
    replicas: (raw.replicas as number | undefined) ?? SPEC_DEFAULTS.replicas,
    domains: sortedStrings(raw.domains, (d) => d.toLowerCase()),
    autoStop: raw.autoStop === true,
    health: health(raw.health),
  };
  if (raw.egress === false) spec.egress = false;
  const release = record(raw.release);
  if (typeof release.command === 'string') {
    spec.release = { command: release.command, timeoutMs: parseDurationMs(release.timeout) ?? SPEC_DEFAULTS.releaseTimeoutMs };
  }
  const jobList = jobs(raw.jobs);
  if (jobList !== undefined) spec.jobs = jobList;
  if (typeof raw.runtime === 'string') spec.runtime = raw.runtime;
  if (typeof raw.image === 'string') {
    spec.image = raw.image;
    return spec;
  }
  if (build !== undefined) {
    spec.build = { commands: Array.isArray(build.commands) ? build.commands.map(String) : [] };
    if (typeof build.dockerfile === 'string') spec.build.dockerfile = build.dockerfile;
  }
  if (typeof run.command === 'string') spec.run = { command: run.command };
  const sourceDir = resolveSourceDir(raw.source, options.baseDir);
  if (sourceDir !== undefined) spec.sourceDir = sourceDir;
  return spec;
}
