// Turns "how the process ended" plus the cgroup's counters into one verdict a
// person can act on: "OOM-killed at 64 MB limit", not "exited 137".

import { constants } from 'node:os';

export type ExitReason = 'exited' | 'signaled' | 'oom' | 'pids-limit' | 'stopped';

export interface ExitInfo {
  reason: ExitReason;
  /** Exit code when the process exited normally (a shell reports signals as 128+n; see signalFromCode). */
  code: number | null;
  signal: NodeJS.Signals | null;
  message: string;
}

export interface ExitFacts {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** OOM kills counted by the cgroup while this process ran. */
  oomKills: number;
  /** Times a fork was refused by pids.max while this process ran. */
  pidsMaxHits: number;
  /** The output held a fork failure (v1 hosts without pids.events). */
  forkFailureSeen: boolean;
  /** Forge asked the process to stop. */
  stopRequested: boolean;
  /** The app runs under Forge's wrapper shell, which reports a signal death as exit code 128+n. */
  codeMaySignal: boolean;
  memoryMb: number | null;
  pidsMax: number | null;
}

const SIGNAL_BY_NUMBER = new Map<number, NodeJS.Signals>(
  Object.entries(constants.signals).map(([name, n]) => [n, name as NodeJS.Signals]),
);

export function signalFromCode(code: number | null): NodeJS.Signals | null {
  if (code === null || code <= 128 || code > 128 + 64) return null;
  return SIGNAL_BY_NUMBER.get(code - 128) ?? null;
}

/** Lines shells and libc print when fork() fails with EAGAIN. */
const FORK_FAILURE = /(cannot fork|can't fork|fork: (retry: )?resource temporarily unavailable|fork failed)/i;

export function isForkFailureLine(line: string): boolean {
  return FORK_FAILURE.test(line);
}

export function classifyExit(f: ExitFacts): ExitInfo {
  const signal = f.signal ?? (f.codeMaySignal ? signalFromCode(f.code) : null);
  const failed = f.code !== 0 || signal !== null;
  const base = { code: f.code, signal };
  // The counters beat the exit status: the OOM killer's SIGKILL looks like any other SIGKILL.
  if (f.oomKills > 0 && failed) {
    const limit = f.memoryMb === null ? '' : ` at ${f.memoryMb} MB limit`;
    return { ...base, reason: 'oom', message: `OOM-killed${limit}` };
  }
  if ((f.pidsMaxHits > 0 || f.forkFailureSeen) && failed) {
    const limit = f.pidsMax === null ? 'its process limit' : `pids.max=${f.pidsMax}`;
    return { ...base, reason: 'pids-limit', message: `stopped by the process limit: fork refused at ${limit}` };
  }
  if (f.stopRequested) {
    return { ...base, reason: 'stopped', message: signal === null ? `stopped (exit code ${f.code})` : `stopped (${signal})` };
  }
  if (signal !== null) return { ...base, reason: 'signaled', message: `killed by signal ${signal}` };
  return { ...base, reason: 'exited', message: `exited with code ${f.code}` };
}
