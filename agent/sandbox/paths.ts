// Pure parsing of the kernel's cgroup bookkeeping files. Hosts differ (pure v2,
// hybrid v1+v2, containers whose mounts start below the real root), so the
// hierarchy a controller lives in is computed from /proc/self/mountinfo and
// /proc/self/cgroup instead of assuming /sys/fs/cgroup/<controller>.

import path from 'node:path';

export interface CgroupMount {
  /** 'cgroup2' for the unified hierarchy, 'cgroup' for a v1 hierarchy. */
  fsType: 'cgroup' | 'cgroup2';
  /** Where the hierarchy is mounted, e.g. /sys/fs/cgroup/memory. */
  mountPoint: string;
  /** The cgroup path the mount starts at (not '/' inside some containers). */
  root: string;
  /** v1 controllers bound to this hierarchy (memory, cpu, cpuacct, pids…); empty for v2. */
  controllers: string[];
}

export interface ProcCgroupLine {
  /** 0 for the unified hierarchy. */
  hierarchyId: number;
  controllers: string[];
  path: string;
}

/** The escapes mountinfo uses for spaces, tabs, newlines and backslashes in paths. */
function unescapeMountPath(value: string): string {
  return value.replace(/\\([0-7]{3})/g, (_m, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/** Super options of a v1 cgroup mount that are not controller names. */
const V1_MOUNT_OPTIONS = new Set(['rw', 'ro', 'xattr', 'noprefix', 'clone_children', 'cpuset_v2_mode', 'all', 'none']);

export function parseMountinfo(text: string): CgroupMount[] {
  const mounts: CgroupMount[] = [];
  for (const line of text.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const left = line.slice(0, sep).split(' ');
    const right = line.slice(sep + 3).split(' ');
    const fsType = right[0];
    if (fsType !== 'cgroup' && fsType !== 'cgroup2') continue;
    const root = left[3];
    const mountPoint = left[4];
    if (root === undefined || mountPoint === undefined) continue;
    const superOptions = (right[2] ?? '').split(',');
    const controllers =
      fsType === 'cgroup'
        ? superOptions.filter((o) => o !== '' && !V1_MOUNT_OPTIONS.has(o) && !o.includes('='))
        : [];
    mounts.push({ fsType, mountPoint: unescapeMountPath(mountPoint), root: unescapeMountPath(root), controllers });
  }
  return mounts;
}

export function parseProcCgroup(text: string): ProcCgroupLine[] {
  const lines: ProcCgroupLine[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const first = line.indexOf(':');
    const second = line.indexOf(':', first + 1);
    if (first < 0 || second < 0) continue;
    const controllers = line
      .slice(first + 1, second)
      .split(',')
      .filter((c) => c !== '' && !c.includes('='));
    lines.push({ hierarchyId: Number(line.slice(0, first)), controllers, path: line.slice(second + 1) });
  }
  return lines;
}

/**
 * The directory of a process's own cgroup inside a mounted hierarchy. Returns
 * undefined when the process's cgroup is outside what the mount shows.
 */
export function ownCgroupDir(mount: CgroupMount, cgroupPath: string): string | undefined {
  const rel = path.posix.relative(mount.root, cgroupPath);
  if (rel.startsWith('..')) return undefined;
  return rel === '' ? mount.mountPoint : path.posix.join(mount.mountPoint, rel);
}

/** v1: for each wanted controller, the directory of our own cgroup in the hierarchy that holds it. */
export function locateV1(
  mounts: CgroupMount[],
  procCgroup: ProcCgroupLine[],
  wanted: readonly string[],
): Record<string, string> {
  const found: Record<string, string> = {};
  for (const controller of wanted) {
    const mount = mounts.find((m) => m.fsType === 'cgroup' && m.controllers.includes(controller));
    const line = procCgroup.find((l) => l.hierarchyId !== 0 && l.controllers.includes(controller));
    if (mount === undefined || line === undefined) continue;
    const dir = ownCgroupDir(mount, line.path);
    if (dir !== undefined) found[controller] = dir;
  }
  return found;
}

/** v2: the unified mount point. Forge's parent sits at its top (see cgroup-v2.ts for why). */
export function locateV2(mounts: CgroupMount[]): string | undefined {
  return mounts.find((m) => m.fsType === 'cgroup2')?.mountPoint;
}

/** Flat-keyed files: memory.events, pids.events, memory.oom_control, cpu.stat. */
export function parseKeyedCounters(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const [key, value] = line.trim().split(/\s+/);
    if (key === undefined || key === '' || value === undefined) continue;
    const n = Number(value);
    if (Number.isFinite(n)) out[key] = n;
  }
  return out;
}

/** cpu.max / cfs quota for a fractional CPU count; 0 or less means unlimited. */
export function cpuQuota(cpus: number, periodUs = 100_000): { quotaUs: number | null; periodUs: number } {
  if (!(cpus > 0)) return { quotaUs: null, periodUs };
  // The kernel refuses quotas below 1 ms.
  return { quotaUs: Math.max(1000, Math.round(cpus * periodUs)), periodUs };
}

export function memoryLimitBytes(memoryMb: number): number {
  return Math.round(memoryMb * 1024 * 1024);
}

/** Cgroup directory names come from task ids; keep them to a safe alphabet. */
export function safeCgroupName(id: string): string {
  const cleaned = id.replace(/[^A-Za-z0-9_.-]/g, '_').replace(/^\.+/, '_');
  return cleaned === '' ? '_' : cleaned.slice(0, 200);
}
