// cgroup v2: one directory <unified mount>/<parent>/<id>. The parent sits at the
// top of the visible hierarchy because v2 forbids enabling controllers for
// children of a cgroup that itself holds processes (our own cgroup usually does).

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

export const V2_REQUIRED = ['memory', 'cpu'] as const;
export const V2_WANTED = ['memory', 'cpu', 'pids'] as const;

function words(text: string | undefined): string[] {
  return (text ?? '').split(/\s+/).filter((w) => w !== '');
}

/** Enables the wanted controllers for dir's children; returns those now enabled. */
export async function enableV2Controllers(dir: string, wanted: readonly string[]): Promise<string[]> {
  const available = words(await readText(path.join(dir, 'cgroup.controllers')));
  const enabled = new Set(words(await readText(path.join(dir, 'cgroup.subtree_control'))));
  for (const c of wanted) {
    if (enabled.has(c) || !available.includes(c)) continue;
    try {
      await writeText(path.join(dir, 'cgroup.subtree_control'), `+${c}`);
      enabled.add(c);
    } catch {
      // EBUSY (processes in dir) or EACCES: leave it off; detection reports what is missing.
    }
  }
  return wanted.filter((c) => enabled.has(c));
}

/** Creates <mount>/<parentName> with the controllers enabled for its children. */
export async function ensureV2Parent(mount: string, parentName: string): Promise<{ dir: string; controllers: string[] }> {
  await enableV2Controllers(mount, V2_WANTED);
  const dir = path.join(mount, parentName);
  await fs.mkdir(dir, { recursive: true });
  return { dir, controllers: await enableV2Controllers(dir, V2_WANTED) };
}

export async function createCgroupV2(
  mount: string,
  parentName: string,
  name: string,
  limits: CgroupLimits,
): Promise<CgroupHandle> {
  const parent = await ensureV2Parent(mount, parentName);
  const dir = path.join(parent.dir, name);
  const created: string[] = [];
  const pids = () => readPidsFile(path.join(dir, 'cgroup.procs'));
  const handle: CgroupHandle = {
    version: 'v2',
    dirs: created,
    procsFiles: [path.join(dir, 'cgroup.procs')],
    counters: () => countersV2(dir),
    pids,
    killAll: async () => {
      const kill = path.join(dir, 'cgroup.kill');
      if (await exists(kill)) await writeText(kill, '1').catch(() => undefined);
      await killUntilEmpty(pids);
    },
    remove: async () => {
      for (const d of created) await removeDir(d);
    },
    setCpus: async (cpus) => {
      const { quotaUs, periodUs } = cpuQuota(cpus);
      await writeText(path.join(dir, 'cpu.max'), `${quotaUs ?? 'max'} ${periodUs}`);
    },
  };
  try {
    await clearStale(dir);
    await fs.mkdir(dir);
    created.push(dir);
    const bytes = String(memoryLimitBytes(limits.memoryMb));
    await writeText(path.join(dir, 'memory.max'), bytes);
    const swap = path.join(dir, 'memory.swap.max');
    if (await exists(swap)) await writeText(swap, '0');
    await handle.setCpus(limits.cpus);
    if (parent.controllers.includes('pids')) await writeText(path.join(dir, 'pids.max'), String(limits.pidsMax));
  } catch (err) {
    await handle.remove().catch(() => undefined);
    throw err;
  }
  return handle;
}

async function countersV2(dir: string): Promise<CgroupCounters> {
  // Side by side: a heartbeat reads them for every instance.
  const [memoryText, pidsText, current, pidsCurrent] = await Promise.all(
    ['memory.events', 'pids.events', 'memory.current', 'pids.current'].map((file) => readText(path.join(dir, file))),
  );
  const memoryEvents = parseKeyedCounters(memoryText ?? '');
  const pidsEvents = parseKeyedCounters(pidsText ?? '');
  return {
    oomKills: memoryEvents.oom_kill ?? 0,
    pidsMaxHits: pidsEvents.max ?? 0,
    memoryBytes: Number(current ?? '0') || 0,
    pids: Number(pidsCurrent ?? '0') || 0,
  };
}
