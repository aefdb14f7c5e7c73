// The per-service buildah stores (<data>/images/builds/<slot>, one per identity
// block: dockerfile.ts says why) and their garbage collection.
//
// A build store is a cache: the image a release runs is copied into the OCI layout
// (store.ts) by digest. What the store holds is worth keeping only for a build that
// may come again: the current release's (a restart, a replica, a one-line change) and
// the rollback targets' (a rollback rebuilds its bundle, and with every step cached
// that is a copy, not a build). So the rule, the same as the image cache's: a store
// whose service has no instance on this agent goes; inside a kept store, each build
// is tagged with its release's revision, the images of revisions no kept release
// names are removed, and buildah drops the layers only they used (an intermediate
// layer a kept image builds on stays).
//
// A store is never pruned while a build runs in it (buildah's cache could lose a
// step the build is about to reuse): builds and GC of one store are serialized, and
// GC skips a store that is busy instead of waiting behind a long build.

import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export function buildStoresDir(dataDir: string): string {
  return path.join(dataDir, 'images', 'builds');
}

export function buildStoreDir(dataDir: string, slot: number): string {
  return path.join(buildStoresDir(dataDir), String(slot));
}

/** buildah's global storage flags for one store: vfs, plain directories, so no overlay mount of a build outlives it. */
export function storageFlags(store: string): string[] {
  return ['--root', path.join(store, 'storage'), '--runroot', path.join(store, 'run'), '--storage-driver', 'vfs'];
}

/** The tag a build of `revision` gets in its service's store (GC keeps the tags of kept revisions). */
export function buildTag(service: string, revision: string | undefined): string {
  const rev = createHash('sha256').update(revision ?? 'unversioned').digest('hex').slice(0, 32);
  return `localhost/forge-${service}:rev-${rev}`;
}

const held = new Map<string, Promise<unknown>>();

/** Runs `work` while nothing else (a build, a GC) uses the store. */
export function withBuildStore<T>(store: string, work: () => Promise<T>): Promise<T> {
  const previous = held.get(store) ?? Promise.resolve();
  const next = previous.then(work, work);
  const settled = next.then(() => undefined, () => undefined);
  held.set(store, settled);
  void settled.then(() => { if (held.get(store) === settled) held.delete(store); });
  return next;
}

function busy(store: string): boolean {
  return held.has(store);
}

export interface BuildStorePlan {
  /** Slots whose whole store goes: no instance of their service is on this agent. */
  remove: number[];
  /** Slots whose store stays, with the build tags kept in it. */
  prune: Array<{ slot: number; keep: ReadonlySet<string> }>;
}

/** Pure: what GC does with the stores on disk, given the tags each kept service's releases name. */
export function planBuildStores(onDisk: readonly number[], keep: ReadonlyMap<number, ReadonlySet<string>>): BuildStorePlan {
  const plan: BuildStorePlan = { remove: [], prune: [] };
  for (const slot of [...onDisk].sort((a, b) => a - b)) {
    const tags = keep.get(slot);
    if (tags === undefined) plan.remove.push(slot);
    else plan.prune.push({ slot, keep: tags });
  }
  return plan;
}

async function slotsOnDisk(dataDir: string): Promise<number[]> {
  const names = await fs.readdir(buildStoresDir(dataDir)).catch(() => [] as string[]);
  return names.filter((n) => /^\d+$/.test(n)).map(Number);
}

interface BuildahImage {
  names?: string[] | null;
}

async function buildah(store: string, args: string[]): Promise<string> {
  const { stdout } = await run('buildah', [...storageFlags(store), ...args], {
    timeout: 5 * 60_000, maxBuffer: 16 * 1024 * 1024, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/nonexistent' },
  });
  return stdout;
}

/** Removes the store's images whose tags are not kept, and the layers only they used; returns how many images went. */
async function pruneStore(store: string, keep: ReadonlySet<string>): Promise<number> {
  const images = JSON.parse((await buildah(store, ['images', '--json'])).trim() || '[]') as BuildahImage[];
  let removed = 0;
  for (const image of images) {
    const names = image.names ?? [];
    if (names.length === 0 || names.some((n) => keep.has(n))) continue;
    await buildah(store, ['rmi', ...names]);
    removed += 1;
  }
  // rmi drops parents left without children; a prune catches any left dangling by a build that died.
  if (removed > 0) await buildah(store, ['rmi', '--prune']);
  return removed;
}

export interface BuildStoreGc {
  storesRemoved: number;
  imagesRemoved: number;
  /** Busy stores left for the next collection. */
  skipped: number;
  /** Stores buildah could not prune (each one's first error line); the others were still pruned. */
  failed: string[];
}

/**
 * Applies the rule to every store on disk. `keep`: for each slot whose service has an
 * instance here, the build tags of its current and rollback-target revisions.
 */
export async function pruneBuildStores(dataDir: string, keep: ReadonlyMap<number, ReadonlySet<string>>): Promise<BuildStoreGc> {
  const plan = planBuildStores(await slotsOnDisk(dataDir), keep);
  const out: BuildStoreGc = { storesRemoved: 0, imagesRemoved: 0, skipped: 0, failed: [] };
  for (const slot of plan.remove) {
    const store = buildStoreDir(dataDir, slot);
    if (busy(store)) { out.skipped += 1; continue; }
    await withBuildStore(store, () => fs.rm(store, { recursive: true, force: true }));
    out.storesRemoved += 1;
  }
  for (const { slot, keep: tags } of plan.prune) {
    const store = buildStoreDir(dataDir, slot);
    if (busy(store)) { out.skipped += 1; continue; }
    try {
      out.imagesRemoved += await withBuildStore(store, () => pruneStore(store, tags));
    } catch (error) {
      const said = String((error as { stderr?: string }).stderr ?? (error as Error).message).trim().split('\n')[0] ?? '';
      out.failed.push(`store ${slot}: ${said.slice(0, 200)}`);
    }
  }
  return out;
}

/** Bytes the build stores take on disk (files counted once per inode: vfs layers are full copies, not links, but be exact). */
export async function buildStoresBytes(dataDir: string): Promise<number> {
  const seen = new Set<string>();
  let total = 0;
  const walk = async (dir: string): Promise<void> => {
    const entries = await fs.readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const entry of entries) {
      const at = path.join(dir, entry.name);
      if (entry.isDirectory()) await walk(at);
      else if (entry.isFile()) {
        const st = await fs.lstat(at).catch(() => null);
        if (st === null) continue;
        const id = `${st.dev}:${st.ino}`;
        if (seen.has(id)) continue;
        seen.add(id);
        total += st.size;
      }
    }
  };
  await walk(buildStoresDir(dataDir));
  return total;
}
