// cgroup v1: one directory per controller hierarchy (memory, cpu, pids), all
// named <own cgroup>/<parent>/<id>. Nesting under our own cgroup keeps any
// limits our supervisor placed on us in force for the children too.

import { promises as fs } from 'node:fs';
import path from 'node:path';
import {
  clearStale,
  exists,
  killUntilEmpty,
  readPidsFile,
  readText,
  removeDir,
  writeText,
  type CgroupCounters,
  type CgroupHandle,
  type CgroupLimits,
} from './cgroup-common.ts';
import { cpuQuota, memoryLimitBytes, parseKeyedCounters } from './paths.ts';

export const V1_CONTROLLERS = ['memory', 'cpu', 'pids'] as const;

export async function createCgroupV1(
  bases: Record<string, string>,
  parentName: string,
  name: string,
  limits: CgroupLimits,
): Promise<CgroupHandle> {
  const dirOf = (controller: string): string | undefined => {
    const base = bases[controller];
    return base === undefined ? undefined : path.join(base, parentName, name);
  };
  const memoryDir = dirOf('memory');
  const cpuDir = dirOf('cpu');
  const pidsDir = dirOf('pids');
  // Two controllers may share one hierarchy (cpu,cpuacct + memory on some hosts).
  const dirs = [...new Set([memoryDir, cpuDir, pidsDir].filter((d): d is string => d !== undefined))];
  const created: string[] = [];
  const handle: CgroupHandle = {
    version: 'v1',
    dirs: created,
    procsFiles: dirs.map((d) => path.join(d, 'cgroup.procs')),
    counters: () => countersV1(memoryDir, pidsDir),
    pids: async () => {
      const lists = await Promise.all(created.map((d) => readPidsFile(path.join(d, 'cgroup.procs'))));
      return [...new Set(lists.flat())];
    },
    killAll: () => killUntilEmpty(handle.pids),
    remove: async () => {
      for (const d of created) await removeDir(d);
    },
    setCpus: async (cpus) => {
      if (cpuDir === undefined) return;
      const { quotaUs, periodUs } = cpuQuota(cpus);
      await writeText(path.join(cpuDir, 'cpu.cfs_period_us'), String(periodUs));
      await writeText(path.join(cpuDir, 'cpu.cfs_quota_us'), String(quotaUs ?? -1));
    },
  };
  try {
    for (const d of dirs) {
      await clearStale(d);
      await fs.mkdir(d, { recursive: true });
      created.push(d);
    }
    if (memoryDir !== undefined) {
      const bytes = String(memoryLimitBytes(limits.memoryMb));
      await writeText(path.join(memoryDir, 'memory.limit_in_bytes'), bytes);
      // memsw = memory + swap; equal to the memory limit means no swap. Set after the memory limit (kernel order rule).
      const memsw = path.join(memoryDir, 'memory.memsw.limit_in_bytes');
      if (await exists(memsw)) await writeText(memsw, bytes);
    }
    await handle.setCpus(limits.cpus);
    if (pidsDir !== undefined) await writeText(path.join(pidsDir, 'pids.max'), String(limits.pidsMax));
  } catch (err) {
    await handle.remove().catch(() => undefined);
    throw err;
  }
  return handle;
}

async function countersV1(memoryDir: string | undefined, pidsDir: string | undefined): Promise<CgroupCounters> {
  // The files are read side by side: a heartbeat reads them for every instance.
  const read = (dir: string | undefined, file: string) => (dir === undefined ? Promise.resolve(undefined) : readText(path.join(dir, file)));
  const [oomText, usage, failcnt, pidsEvents, pidsCurrent] = await Promise.all([
    read(memoryDir, 'memory.oom_control'), read(memoryDir, 'memory.usage_in_bytes'), read(memoryDir, 'memory.failcnt'),
    read(pidsDir, 'pids.events'), read(pidsDir, 'pids.current'),
  ]);
  let oomKills = 0;
  let memoryBytes = 0;
  if (memoryDir !== undefined) {
    const oom = parseKeyedCounters(oomText ?? '');
    if (oom.oom_kill !== undefined) {
      oomKills = oom.oom_kill;
    } else {
      // Kernels before 4.13 have no oom_kill counter; hitting the limit while
      // under_oom is the nearest signal they give.
      oomKills = oom.under_oom === 1 || Number(failcnt ?? '0') > 0 ? 1 : 0;
    }
    memoryBytes = Number(usage ?? '0') || 0;
  }
  let pidsMaxHits = 0;
  let pids = 0;
  if (pidsDir !== undefined) {
    pidsMaxHits = parseKeyedCounters(pidsEvents ?? '').max ?? 0;
    pids = Number(pidsCurrent ?? '0') || 0;
  }
  return { oomKills, pidsMaxHits, memoryBytes, pids };
}
