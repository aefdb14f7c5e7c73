// Resident memory of process trees, read from /proc (Linux only), for benches
// that compare what process managers cost: a tree is a root pid plus every
// process whose parent chain leads to it. Pids in other pid namespaces still
// show here with host pids and host parents, so sandboxed children are found.

import { readdirSync, readFileSync } from 'node:fs';

/** RSS in bytes of one process (VmRSS), or 0 when it is gone or unreadable (zombies have none). */
export function rssBytes(pid: number): number {
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** Parent pid of every live process. */
export function parentMap(): Map<number, number> {
  const parents = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // The command name is in parentheses and may hold spaces: read past its closing one.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      parents.set(Number(entry), Number(fields[1]));
    } catch {
      // gone between readdir and read
    }
  }
  return parents;
}

/** Every live descendant of `root` (not root itself). */
export function descendants(root: number, parents: Map<number, number> = parentMap()): number[] {
  const children = new Map<number, number[]>();
  for (const [pid, parent] of parents) {
    const list = children.get(parent) ?? [];
    list.push(pid);
    children.set(parent, list);
  }
  const found: number[] = [];
  const queue = [...(children.get(root) ?? [])];
  while (queue.length > 0) {
    const pid = queue.shift()!;
    found.push(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return found;
}

export interface MemorySample {
  /** Total of every part. */
  totalBytes: number;
  /** Bytes per named part, e.g. `daemon`, `apps`. */
  parts: Record<string, number>;
}

export interface PeakSampler {
  /** The sample with the highest total so far. */
  peak(): MemorySample;
  stop(): MemorySample;
}

/** Samples `measure` every `intervalMs` (and once at once), keeping the highest total. */
export function samplePeak(measure: () => Record<string, number>, intervalMs = 100): PeakSampler {
  let best: MemorySample = { totalBytes: 0, parts: {} };
  const take = () => {
    const parts = measure();
    const totalBytes = Object.values(parts).reduce((a, b) => a + b, 0);
    if (totalBytes > best.totalBytes) best = { totalBytes, parts };
  };
  take();
  const timer = setInterval(take, intervalMs);
  return {
    peak: () => best,
    stop() {
      clearInterval(timer);
      take();
      return best;
    },
  };
}

export const toMb = (bytes: number): string => (bytes / 2 ** 20).toFixed(0);
