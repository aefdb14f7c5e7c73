// Cross-field rules the schema cannot say. Each rule reads the raw spec (as
// parsed, before normalization) and returns issues; each one checks the types
// it relies on and stays silent otherwise, since the schema reports those.

import { SPEC_DEFAULTS } from './types.ts';
import { parseDurationMs, parseMemoryMb } from './units.ts';
import { show } from './messages.ts';
import { parseSchedule, ScheduleError } from './cron.ts';
import type { SpecIssue } from './problems.ts';

type Raw = Record<string, unknown>;
export type SpecRule = (raw: Raw) => SpecIssue[];

const MEMORY_MIN_MB = 256;
const MEMORY_MAX_MB = 8192;

function record(value: unknown): Raw | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Raw) : undefined;
}

/** A service runs an image or is built from source, never both. */
export function imageExcludesSource(raw: Raw): SpecIssue[] {
  if (raw.image === undefined) return [];
  return (['source', 'build', 'run'] as const)
    .filter((key) => raw[key] !== undefined)
    .map((key) => ({ path: [key], at: 'key' as const, message: `\`${key}\` cannot be used with \`image\`: a service runs an image or is built from source, not both` }));
}

/** Source mode needs the command that starts the app, unless a Dockerfile says it. */
export function sourceNeedsRunCommand(raw: Raw): SpecIssue[] {
  if (raw.image !== undefined) return [];
  const run = record(raw.run);
  const build = record(raw.build);
  if (run?.command !== undefined || build?.dockerfile !== undefined) return [];
  if (raw.run === undefined && raw.build === undefined) {
    return [{ path: [], message: 'a service needs `image` (image mode) or `run.command` (source mode)' }];
  }
  if (raw.run !== undefined && run === undefined) return []; // wrong type: the schema says so
  return [{ path: ['run', 'command'], message: 'missing required key `command`: source mode needs the command that starts the service' }];
}

export function buildNeedsCommandsOrDockerfile(raw: Raw): SpecIssue[] {
  const build = record(raw.build);
  if (build === undefined || build.commands !== undefined || build.dockerfile !== undefined) return [];
  return [{ path: ['build'], message: 'should have `commands`, `dockerfile` or both' }];
}

/** `run.port` is an alias of `port`; two different values cannot both be meant. */
export function portAliasConflict(raw: Raw): SpecIssue[] {
  const runPort = record(raw.run)?.port;
  if (typeof raw.port !== 'number' || typeof runPort !== 'number' || raw.port === runPort) return [];
  return [{ path: ['run', 'port'], message: `\`run.port\` is ${runPort} but \`port\` is ${raw.port}; they mean the same, give one` }];
}

/** `resources.memory` is an alias of `memory`; compared after unit conversion, so 1Gi equals 1024. */
export function memoryConflict(raw: Raw): SpecIssue[] {
  const nested = record(raw.resources)?.memory;
  const top = parseMemoryMb(raw.memory);
  const alias = parseMemoryMb(nested);
  if (top === undefined || alias === undefined || top === alias) return [];
  return [{ path: ['resources', 'memory'], message: `\`resources.memory\` is ${alias} MB but \`memory\` is ${top} MB; they mean the same, give one` }];
}

/** A fractional CPU count (agents) and a Fly tier describe the CPU twice. */
export function cpuConflict(raw: Raw): SpecIssue[] {
  if (raw.cpu === undefined || record(raw.resources)?.cpu === undefined) return [];
  return [{ path: ['resources', 'cpu'], message: '`resources.cpu` (a CPU count for agents) and `cpu` (a Fly tier) cannot both be given' }];
}

/** Unit strings pass the schema's pattern; their size is only known after conversion. */
export function memoryInRange(raw: Raw): SpecIssue[] {
  const places: [string[], unknown][] = [[['memory'], raw.memory], [['resources', 'memory'], record(raw.resources)?.memory]];
  const issues: SpecIssue[] = [];
  for (const [path, value] of places) {
    // Only sizes in the accepted form; the schema reports any other.
    if (typeof value !== 'string' || !/^[0-9]+(\.[0-9]+)?(M|Mi|MB|G|Gi|GB)?$/.test(value)) continue;
    const mb = parseMemoryMb(value);
    if (mb === undefined) issues.push({ path, message: `${show(value)} is not a whole number of MB` });
    else if (mb < MEMORY_MIN_MB || mb > MEMORY_MAX_MB) {
      issues.push({ path, message: `${show(value)} is ${mb} MB, out of range (${MEMORY_MIN_MB}..${MEMORY_MAX_MB} MB)` });
    }
  }
  return issues;
}

/** A zero interval would spin; a zero timeout could never pass; a zero grace could never start. */
export function durationsPositive(raw: Raw): SpecIssue[] {
  const health = record(raw.health);
  if (health === undefined) return [];
  return (['interval', 'timeout', 'grace'] as const)
    .filter((key) => parseDurationMs(health[key]) === 0)
    .map((key) => ({ path: ['health', key], message: 'should be longer than 0' }));
}

const RELEASE_TIMEOUT_MAX_MS = 60 * 60_000;

/** A release command's timeout: a zero one could never pass, one past an hour would hold a deploy for hours. */
export function releaseTimeoutInRange(raw: Raw): SpecIssue[] {
  const ms = parseDurationMs(record(raw.release)?.timeout);
  if (ms === undefined) return [];
  if (ms === 0) return [{ path: ['release', 'timeout'], message: 'should be longer than 0' }];
  if (ms > RELEASE_TIMEOUT_MAX_MS) return [{ path: ['release', 'timeout'], message: 'should be at most 60m' }];
  return [];
}

/**
 * Test-only: six-field schedules (seconds first) are accepted when this variable is `1`, so
 * tests can tick every second. Never documented for users; a minute is the real resolution.
 */
export const SECOND_SCHEDULES_ENV = 'FORGE_TEST_SECOND_SCHEDULES';
export const secondSchedulesAllowed = (): boolean => process.env[SECOND_SCHEDULES_ENV] === '1';

/** Each job's schedule parses and its zone exists; its timeout is not 0. */
export function jobsValid(raw: Raw): SpecIssue[] {
  const jobs = record(raw.jobs);
  if (jobs === undefined) return [];
  const issues: SpecIssue[] = [];
  for (const [name, value] of Object.entries(jobs)) {
    const job = record(value);
    if (job === undefined) continue;
    if (parseDurationMs(job.timeout) === 0) issues.push({ path: ['jobs', name, 'timeout'], message: 'should be longer than 0' });
    if (typeof job.timezone === 'string') {
      try { parseSchedule('@daily', job.timezone); } catch (error) {
        issues.push({ path: ['jobs', name, 'timezone'], message: (error as Error).message });
        continue;
      }
    }
    if (typeof job.schedule !== 'string') continue;
    try {
      parseSchedule(job.schedule, typeof job.timezone === 'string' ? job.timezone : 'UTC', secondSchedulesAllowed());
    } catch (error) {
      if (!(error instanceof ScheduleError)) throw error;
      issues.push({ path: ['jobs', name, 'schedule'], message: error.message });
    }
  }
  return issues;
}

export const SPEC_RULES: readonly SpecRule[] = [
  imageExcludesSource,
  sourceNeedsRunCommand,
  buildNeedsCommandsOrDockerfile,
  portAliasConflict,
  memoryConflict,
  cpuConflict,
  memoryInRange,
  durationsPositive,
  releaseTimeoutInRange,
  jobsValid,
];

/** Every rule's issues for a spec whose top level is a mapping. */
export function ruleIssues(raw: unknown): SpecIssue[] {
  const top = record(raw);
  return top === undefined ? [] : SPEC_RULES.flatMap((rule) => rule(top));
}
