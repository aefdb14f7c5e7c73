// What the agent offers and what is in use: capacity from the host (or an
// override), CPU busy cores from /proc-backed os.cpus() deltas, memory and
// process counts from the instances' cgroups.

import os from 'node:os';
import type { Resources } from '../schemas/agent-protocol.ts';
import type { InstanceHandle } from './runner/run.ts';

export function hostCapacity(override: Partial<Resources> = {}): Resources {
  return {
    cpus: override.cpus ?? os.availableParallelism(),
    memoryBytes: override.memoryBytes ?? os.totalmem(),
  };
}

/** Busy cores since the previous call (the first call measures since the sampler was made). */
export function createCpuSampler(): () => number {
  let last = snapshot();
  return () => {
    const next = snapshot();
    const total = next.total - last.total;
    const idle = next.idle - last.idle;
    last = next;
    if (total <= 0) return 0;
    return Math.round(((total - idle) / total) * next.cores * 1000) / 1000;
  };
}

function snapshot(): { total: number; idle: number; cores: number } {
  let total = 0;
  let idle = 0;
  const cpus = os.cpus();
  for (const cpu of cpus) {
    const t = cpu.times;
    total += t.user + t.nice + t.sys + t.idle + t.irq;
    idle += t.idle;
  }
  return { total, idle, cores: cpus.length };
}

export interface InstanceUsage {
  memoryBytes: number;
  processes: number;
}

/** Memory and processes inside the instances' sandboxes (cgroup counters; pids where there is no cgroup). */
export async function instanceUsage(handles: readonly InstanceHandle[]): Promise<InstanceUsage> {
  // All instances at once: one after the other, a heartbeat of 20 instances on a busy host took
  // 1-3 s (each read waits for a turn of the event loop), long enough to be marked offline.
  const each = await Promise.all(handles.map(async (handle) => {
    const counters = await handle.sandbox.counters().catch(() => null);
    if (counters) return { memoryBytes: counters.memoryBytes, processes: counters.pids };
    return { memoryBytes: 0, processes: (await handle.sandbox.pids().catch(() => [])).length };
  }));
  return each.reduce((sum, u) => ({ memoryBytes: sum.memoryBytes + u.memoryBytes, processes: sum.processes + u.processes }), { memoryBytes: 0, processes: 0 });
}
