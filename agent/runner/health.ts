// Health checks: waitHealthy for start-up (first probe the moment the port
// accepts connections; a process that dies meanwhile fails fast), and
// monitorHealth for the periodic checks afterwards.

import http from 'node:http';
import { ForgeError } from '../../errors/index.ts';
import { portAccepts } from '../../net/port-accepts.ts';
import type { HealthSpec } from '../../specs/types.ts';
import type { ExitInfo } from '../sandbox/index.ts';
import { listeningPortsOf, wrongPortHint } from './health-ports.ts';
import {
  INITIAL_HEALTH,
  nextHealthState,
  probeTarget,
  startupRetryDelayMs,
  unhealthyReason,
  type HealthState,
  type ProbeResult,
} from './health-policy.ts';

export const PORT_POLL_MS = 50;
export const DEFAULT_START_TIMEOUT_MS = 60_000;

/**
 * Whether the app itself listens, for sandboxes with an own network namespace
 * (Sandbox.listening): there the host side accepts before the app does. null: ask the port.
 */
export type ListeningCheck = () => Promise<boolean | null>;

async function accepts(port: number, host: string, timeoutMs: number, listening?: ListeningCheck): Promise<boolean> {
  const inside = listening === undefined ? null : await listening();
  if (inside === false) return false;
  return portAccepts(port, host, timeoutMs);
}

/** One probe. HTTP: any 2xx/3xx within timeoutMs passes. TCP: the port accepts (and the app listens). */
export function probeOnce(port: number, health: HealthSpec, host = '127.0.0.1', listening?: ListeningCheck): Promise<ProbeResult> {
  if (health.type === 'tcp') {
    return accepts(port, host, health.timeoutMs, listening).then((ok) =>
      ok ? { ok: true } : { ok: false, failure: 'refused connections' },
    );
  }
  return new Promise((resolve) => {
    let settled = false;
    const settle = (r: ProbeResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(r);
    };
    const req = http.get(
      { host, port, path: health.path, agent: false, headers: { 'user-agent': 'forge-health/1' } },
      (res) => {
        res.resume();
        const status = res.statusCode ?? 0;
        settle(status >= 200 && status < 400 ? { ok: true } : { ok: false, failure: `returned ${status}` });
      },
    );
    // One budget for connect + headers, like the spec's timeoutMs promises.
    const timer = setTimeout(() => {
      settle({ ok: false, failure: `timed out after ${health.timeoutMs} ms` });
      req.destroy();
    }, health.timeoutMs);
    req.once('error', (err: NodeJS.ErrnoException) => {
      settle({ ok: false, failure: err.code === 'ECONNREFUSED' ? 'refused connections' : `failed (${err.code ?? err.message})` });
    });
  });
}

export interface WaitHealthyOptions {
  port: number;
  health: HealthSpec;
  host?: string;
  signal?: AbortSignal;
  /**
   * Overall start-up budget, port wait included, when the spec gives no `health.grace`
   * (which wins: the app's author knows how slow it starts). Default 60 s.
   */
  startTimeoutMs?: number;
  /** Host pids of the instance's processes: a port that never opened names where they listen. */
  pids?: () => Promise<number[]>;
  /** The instance's exit: when it settles first, the wait fails fast. */
  exited?: Promise<ExitInfo>;
  /** Last log lines, attached when the process exits during start-up. */
  tail?: () => string[];
  listening?: ListeningCheck;
}

export type HealthOutcome =
  | { healthy: true; probes: number }
  | { healthy: false; reason: 'exited'; message: string; exit: ExitInfo; lastLines: string[] }
  | { healthy: false; reason: 'timeout' | 'unhealthy' | 'aborted'; message: string };

export async function waitHealthy(options: WaitHealthyOptions): Promise<HealthOutcome> {
  const { port, health } = options;
  const host = options.host ?? '127.0.0.1';
  const startTimeoutMs = health.graceMs ?? options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
  const deadline = Date.now() + startTimeoutMs;
  const wake = new Waker(options.signal, options.exited);

  const stopped = (): HealthOutcome | null => {
    if (wake.exit !== null) {
      const lastLines = options.tail?.() ?? [];
      return { healthy: false, reason: 'exited', message: `exited during start-up: ${wake.exit.message}`, exit: wake.exit, lastLines };
    }
    if (options.signal?.aborted === true) return { healthy: false, reason: 'aborted', message: 'health wait cancelled' };
    return null;
  };
  const timedOut = (detail: string): HealthOutcome => ({
    healthy: false,
    reason: 'timeout',
    message: `did not become healthy within ${formatMs(startTimeoutMs)}: ${detail}`,
  });

  try {
    while (!(await accepts(port, host, 1_000, options.listening))) {
      const stop = stopped();
      if (stop !== null) return stop;
      if (Date.now() >= deadline) return timedOut(`port ${port} never accepted connections${await listeningHint(port, options.pids)}`);
      await wake.sleep(PORT_POLL_MS);
    }
    let state: HealthState = INITIAL_HEALTH;
    let probes = 0;
    for (;;) {
      const stop = stopped();
      if (stop !== null) return stop;
      const result = await probeOnce(port, health, host, options.listening);
      probes += 1;
      if (result.ok) return { healthy: true, probes };
      state = nextHealthState(state, result, health.retries);
      const stopAfter = stopped();
      if (stopAfter !== null) return stopAfter;
      if (state.status === 'unhealthy') return { healthy: false, reason: 'unhealthy', message: unhealthyReason(health, state.failures) };
      if (Date.now() >= deadline) return timedOut(`last ${probeTarget(health)} ${result.failure}`);
      await wake.sleep(startupRetryDelayMs(health));
    }
  } finally {
    wake.dispose();
  }
}

/** `; the app's processes listen on port 3000, but …`, or nothing when the pids are unknown. */
async function listeningHint(port: number, pids: (() => Promise<number[]>) | undefined): Promise<string> {
  if (pids === undefined) return '';
  const listening = await pids().then(listeningPortsOf, () => null);
  return listening === null ? '' : `; ${wrongPortHint(port, listening)}`;
}

export function healthError(outcome: Exclude<HealthOutcome, { healthy: true }>): ForgeError {
  return new ForgeError('E_HEALTH_FAILED', outcome.message, { details: outcome });
}

export interface HealthMonitor {
  stop(): void;
  state(): HealthState;
}

export interface MonitorOptions {
  port: number;
  health: HealthSpec;
  host?: string;
  /** Called on every transition (healthy → unhealthy and back), with the reason when unhealthy. */
  onChange: (status: HealthState['status'], reason: string | null) => void;
  listening?: ListeningCheck;
}

/**
 * Probes every intervalMs after start-up; the instance is assumed healthy when it starts.
 * The next probe is scheduled only when the previous one ended, so a timeout as long as or
 * longer than the interval never makes probes overlap.
 */
export function monitorHealth(options: MonitorOptions): HealthMonitor {
  let state: HealthState = INITIAL_HEALTH;
  let timer: NodeJS.Timeout | null = null;
  let stopped = false;
  const tick = async () => {
    const result = await probeOnce(options.port, options.health, options.host, options.listening);
    if (stopped) return;
    const next = nextHealthState(state, result, options.health.retries);
    const changed = next.status !== state.status;
    state = next;
    if (changed) options.onChange(next.status, next.status === 'unhealthy' ? unhealthyReason(options.health, next.failures) : null);
    schedule();
  };
  const schedule = () => {
    if (!stopped) timer = setTimeout(() => void tick(), options.health.intervalMs);
  };
  schedule();
  return {
    stop() {
      stopped = true;
      if (timer !== null) clearTimeout(timer);
    },
    state: () => state,
  };
}

function formatMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms} ms`;
}

/** Sleeps that end early when the process exits or the caller aborts. */
class Waker {
  exit: ExitInfo | null = null;
  private wakeups = new Set<() => void>();
  private readonly onAbort = () => this.wakeAll();

  constructor(
    private readonly signal: AbortSignal | undefined,
    exited: Promise<ExitInfo> | undefined,
  ) {
    signal?.addEventListener('abort', this.onAbort, { once: true });
    void exited?.then((e) => {
      this.exit = e;
      this.wakeAll();
    });
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wakeups.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wakeups.add(done);
    });
  }

  dispose(): void {
    this.signal?.removeEventListener('abort', this.onAbort);
    this.wakeAll();
  }

  private wakeAll(): void {
    for (const w of [...this.wakeups]) w();
  }
}
