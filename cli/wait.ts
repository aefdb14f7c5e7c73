// Waiting for changed services to settle: polls GET for each, prints a line when
// a service's status or readiness changes, and stops at running (the current
// generation observed), stopped as desired, gone (deleted), failed, or the timeout.

import { setTimeout as sleep } from 'node:timers/promises';
import type { ServiceJson } from '../api/service-json.ts';
import { ForgeError, isForgeError, toForgeError } from '../errors/index.ts';
import { parseDurationMs } from '../specs/units.ts';
import type { EventRow } from '../store/types.ts';
import { servicePath, type ForgeClient } from './client.ts';
import { eventText, readyCount } from './format.ts';
import { EXIT, type CliResult, type CommandIO } from './output.ts';

export const DEFAULT_POLL_MS = 500;
/** A `failed` seen before anything else may be the previous generation's: it must persist this many polls. */
const STALE_FAILED_POLLS = 4;
const LAST_EVENTS = 5;

export interface WaitTarget {
  name: string;
  /** 'gone' for services being deleted. */
  expect: 'settled' | 'gone';
}

export interface WaitOptions {
  timeoutMs: number;
  pollMs: number;
  signal?: AbortSignal;
  /** Receives each progress line (without newline). */
  progress: (line: string) => void;
}

export interface WaitFailure {
  name: string;
  reason: string;
  events: string[];
}

export interface WaitOutcome {
  ok: boolean;
  services: ServiceJson[];
  failures: WaitFailure[];
}

type Seen = { line: string; sawOther: boolean; failedPolls: number; done: boolean };

/** Pure: where one service stands. */
export function settledState(s: ServiceJson): 'done' | 'failed' | 'waiting' {
  if (s.status === 'failed') return 'failed';
  const caughtUp = s.observedGeneration >= s.generation;
  if (s.desiredState === 'stopped') return s.status === 'stopped' && caughtUp ? 'done' : 'waiting';
  return s.status === 'running' && caughtUp ? 'done' : 'waiting';
}

export function progressLine(s: ServiceJson): string {
  if (s.status === 'running' && settledState(s) === 'done') return `${s.name}: running${s.url ? ` at ${s.url}` : ''}`;
  if (s.status === 'stopped') return `${s.name}: stopped`;
  if (s.status === 'failed') return `${s.name}: failed`;
  return `${s.name}: ${s.status} (waiting for health ${readyCount(s)})${heldUpBy(s)}`;
}

/** Why a deploy is held up, when the status says: a failing action, or a stop-then-start rollout. */
function heldUpBy(s: ServiceJson): string {
  const why = s.conditions.filter((c) => c.message !== '' && ((c.type === 'Ready' && c.reason === 'ProviderError')
    || (c.type === 'Rollout' && c.status === 'True')));
  return why.length === 0 ? '' : `: ${why.map((c) => c.message).join('; ')}`;
}

/** The failed conditions, in words: "Ready False HealthCheckFailed: …". */
export function failureReason(s: ServiceJson): string {
  const bad = s.conditions.filter((c) => c.status === 'False' && c.message !== '');
  if (bad.length === 0) return `${s.name} is ${s.status}`;
  return bad.map((c) => `${c.reason}: ${c.message}`).join('; ');
}

async function lastEvents(client: ForgeClient, name: string): Promise<string[]> {
  try {
    const events = await client.call<EventRow[]>('GET', servicePath(name, `/events?limit=${LAST_EVENTS}`));
    return events.map(eventText);
  } catch {
    return [];
  }
}

export async function waitForServices(client: ForgeClient, targets: readonly WaitTarget[], options: WaitOptions): Promise<WaitOutcome> {
  const deadline = Date.now() + options.timeoutMs;
  const seen = new Map<string, Seen>(targets.map((t) => [t.name, { line: '', sawOther: false, failedPolls: 0, done: false }]));
  const latest = new Map<string, ServiceJson>();
  const failures: WaitFailure[] = [];
  for (;;) {
    for (const target of targets) {
      const state = seen.get(target.name)!;
      if (state.done) continue;
      let service: ServiceJson | undefined;
      try {
        service = await client.call<ServiceJson>('GET', servicePath(target.name));
      } catch (error) {
        if (!(isForgeError(error) && error.code === 'E_NOT_FOUND' && target.expect === 'gone')) throw error;
      }
      if (service === undefined) {
        options.progress(`${target.name}: deleted`);
        state.done = true;
        continue;
      }
      latest.set(target.name, service);
      const line = target.expect === 'gone' ? `${service.name}: ${service.status}` : progressLine(service);
      if (line !== state.line) {
        options.progress(line);
        state.line = line;
      }
      if (target.expect === 'gone') continue;
      const where = settledState(service);
      if (where === 'failed') state.failedPolls += 1;
      else state.sawOther = true;
      if (where === 'done') state.done = true;
      if (where === 'failed' && (state.sawOther || state.failedPolls >= STALE_FAILED_POLLS)) {
        state.done = true;
        failures.push({ name: service.name, reason: failureReason(service), events: await lastEvents(client, service.name) });
      }
    }
    const services = targets.map((t) => latest.get(t.name)).filter((s): s is ServiceJson => s !== undefined);
    if ([...seen.values()].every((s) => s.done)) return { ok: failures.length === 0, services, failures };
    if (options.signal?.aborted) throw new ForgeError('E_TIMEOUT', 'stopped waiting (interrupted); the change goes on in the control plane');
    if (Date.now() >= deadline) {
      const pending = targets.filter((t) => !seen.get(t.name)!.done).map((t) => {
        const s = latest.get(t.name);
        return s ? `${s.name} (${s.status}, ready ${readyCount(s)})` : t.name;
      });
      throw new ForgeError('E_TIMEOUT', `timed out waiting for ${pending.join(', ')}; the change goes on in the control plane: follow it with forge get or forge events`);
    }
    await sleep(options.pollMs, undefined, options.signal ? { signal: options.signal } : {}).catch(() => undefined);
  }
}

/** The failures as text for stderr: the reason, then the last events. */
export function failureText(failures: readonly WaitFailure[]): string {
  return failures.map((f) => {
    const events = f.events.length > 0 ? `\n  last events:\n${f.events.map((e) => `    ${e}`).join('\n')}` : '';
    return `${f.name} failed: ${f.reason}${events}\n`;
  }).join('');
}

export const DEFAULT_TIMEOUT = '5m';

/** `--timeout` text → ms, or undefined when it is not a duration. */
export function timeoutMs(text: string | undefined): number | undefined {
  return parseDurationMs(text ?? DEFAULT_TIMEOUT);
}

/**
 * Waits and reports: progress lines to stdout (stderr under --json, so stdout stays JSON),
 * failures with their reason and last events to stderr. Returns the exit code.
 */
export async function waitAndReport(
  client: ForgeClient,
  targets: readonly WaitTarget[],
  deps: { signal?: AbortSignal; pollMs?: number },
  io: CommandIO,
  options: { timeoutMs: number; json: boolean; settled?: (services: ServiceJson[]) => void },
): Promise<number> {
  if (targets.length === 0) return EXIT.ok;
  const outcome = await waitForServices(client, targets, {
    timeoutMs: options.timeoutMs,
    pollMs: deps.pollMs ?? DEFAULT_POLL_MS,
    ...(deps.signal ? { signal: deps.signal } : {}),
    progress: (line) => (options.json ? io.err(`${line}\n`) : io.out(`${line}\n`)),
  });
  options.settled?.(outcome.services);
  if (outcome.ok) return EXIT.ok;
  io.err(failureText(outcome.failures));
  return EXIT.failed;
}

/** Runs a wait; its errors (timeout, unreachable) are reported without losing what was printed. */
export async function waitThenFinish(command: string, io: CommandIO, wait: () => Promise<number>): Promise<CliResult> {
  try {
    return io.finish(await wait());
  } catch (error) {
    return io.fail(command, toForgeError(error));
  }
}
