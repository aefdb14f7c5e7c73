// What both cgroup drivers offer the sandbox, and the file plumbing they share.

import { promises as fs } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

export interface CgroupLimits {
  memoryMb: number;
  cpus: number;
  pidsMax: number;
}

export interface CgroupCounters {
  oomKills: number;
  pidsMaxHits: number;
  memoryBytes: number;
  pids: number;
}

export interface CgroupHandle {
  version: 'v1' | 'v2';
  /** Every leaf directory this handle created (one in v2, one per controller in v1). */
  dirs: string[];
  /** The files a process writes its pid into to join every controller. */
  procsFiles: string[];
  counters(): Promise<CgroupCounters>;
  pids(): Promise<number[]>;
  /** SIGKILL everything inside, until the cgroup is empty or the attempts run out. */
  killAll(): Promise<void>;
  /** Remove the leaf directories; the cgroup must be empty. */
  remove(): Promise<void>;
  /** Sets the CPU limit (0: none), as at creation. */
  setCpus(cpus: number): Promise<void>;
}

export async function readText(file: string): Promise<string | undefined> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch {
    return undefined;
  }
}

export async function writeText(file: string, value: string): Promise<void> {
  await fs.writeFile(file, value);
}

export async function readPidsFile(file: string): Promise<number[]> {
  const text = await readText(file);
  if (text === undefined) return [];
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map(Number)
    .filter((n) => Number.isInteger(n) && n > 0);
}

export function signalPids(pids: number[], signal: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // Already gone: exactly what we want.
    }
  }
}

/** Kill until empty: a process may fork between our read of cgroup.procs and the kill. */
export async function killUntilEmpty(list: () => Promise<number[]>, attempts = 50): Promise<void> {
  for (let i = 0; i < attempts; i++) {
    const pids = await list();
    if (pids.length === 0) return;
    signalPids(pids, 'SIGKILL');
    await sleep(20);
  }
}

/** rmdir fails with EBUSY for a moment after the last task exits; retry briefly. */
export async function removeDir(dir: string, attempts = 50): Promise<void> {
  for (let i = 0; ; i++) {
    try {
      await fs.rmdir(dir);
      return;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return;
      if (i >= attempts) throw err;
      await sleep(20);
    }
  }
}

export async function exists(p: string): Promise<boolean> {
  try {
    await fs.access(p);
    return true;
  } catch {
    return false;
  }
}

/** A leaf left behind by a crashed agent: same id, so it is ours to clear. */
export async function clearStale(dir: string): Promise<void> {
  if (!(await exists(dir))) return;
  await killUntilEmpty(() => readPidsFile(`${dir}/cgroup.procs`));
  await removeDir(dir);
}
