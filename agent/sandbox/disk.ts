// A disk limit per instance: its release dir (the only place a build or app can
// write to disk; /tmp is memory) lives on an ext4 filesystem of a fixed size in
// a sparse image file, loop-mounted. Filling it fails writes with ENOSPC inside
// the limit instead of filling the host filesystem that holds forge.db and the
// logs. A quota would need project quotas enabled on the host's filesystem; a
// loop-mounted image needs only root and a loop device, and costs about 0.1 s
// per instance (mkfs without a journal, no discard).

import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface InstanceDisk {
  /** The mounted filesystem's root; the release goes in a subdirectory (lost+found sits at the top). */
  mountPoint: string;
  limitMb: number;
  /** True when less than 1 MiB is left: a write was (or is about to be) refused. */
  full(): Promise<boolean>;
}

const FULL_BELOW_BYTES = 1024 * 1024;

/** Lines a program prints when a write fails for lack of space. */
export function isDiskFullLine(line: string): boolean {
  return /ENOSPC|No space left on device/i.test(line);
}

/** Creates and mounts <dir>/disk (from <dir>/disk.img), owned by uid:gid. Replaces a stale one. */
export async function createDisk(dir: string, limitMb: number, uid: number, gid: number): Promise<InstanceDisk> {
  const image = path.join(dir, 'disk.img');
  const mountPoint = path.join(dir, 'disk');
  await releaseDisk(dir);
  await fs.mkdir(mountPoint, { recursive: true });
  const handle = await fs.open(image, 'w', 0o600);
  try {
    await handle.truncate(limitMb * 1024 * 1024);
  } finally {
    await handle.close();
  }
  // One process started by the agent for both (each start blocks its event loop for a moment).
  await run('/bin/sh', [
    '-c', 'mkfs.ext4 -q -F -m 0 -O ^has_journal -E "root_owner=$2,nodiscard" "$0" && exec mount -o loop,nosuid,nodev "$0" "$1"',
    image, mountPoint, `${uid}:${gid}`,
  ], { timeout: 30_000 });
  return {
    mountPoint,
    limitMb,
    async full() {
      const stat = await fs.statfs(mountPoint).catch(() => null);
      return stat !== null && stat.bavail * stat.bsize < FULL_BELOW_BYTES;
    },
  };
}

/** Unmounts <dir>/disk when mounted and deletes its image. Idempotent. */
export async function releaseDisk(dir: string): Promise<void> {
  const mountPoint = path.join(dir, 'disk');
  if (await isMountPoint(mountPoint)) {
    // Lazy: a process that still holds a file (a straggler being killed) must not keep it mounted.
    await run('umount', ['-l', mountPoint], { timeout: 30_000 }).catch(() => undefined);
  }
  await fs.rm(path.join(dir, 'disk.img'), { force: true });
}

async function isMountPoint(p: string): Promise<boolean> {
  const mounts = await fs.readFile('/proc/self/mounts', 'utf8').catch(() => '');
  const escaped = p.replace(/ /g, '\\040');
  return mounts.split('\n').some((line) => line.split(' ')[1] === escaped);
}

/** Unmounts every instance disk under instancesDir except the kept instance ids (a crashed agent's leftovers). */
export async function sweepDisks(instancesDir: string, keep: ReadonlySet<string>): Promise<void> {
  const ids = await fs.readdir(instancesDir).catch(() => [] as string[]);
  for (const id of ids) if (!keep.has(id)) await releaseDisk(path.join(instancesDir, id));
}
