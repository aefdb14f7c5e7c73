// A copy of a service's source per revision, kept by the agent. A release names
// its source by directory + revision (a `forge dev` digest or a git commit), but
// the directory keeps changing: without a copy, a rollback to an earlier release
// (or a crashed instance of it restarted later) would build whatever the folder
// holds now. The first instance of a revision copies the folder; later instances
// of the same revision, rollbacks included, build from that copy.
//
// The copy is taken when the first task of a revision runs, so an edit saved
// between the apply and that moment lands in it; the next save is a new revision.

import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { SKIPPED_SOURCE_ENTRIES } from './build.ts';

/** Snapshots kept per agent; the least recently used go first. */
export const KEPT_SNAPSHOTS = 20;

/** Where a revision's copy lives: one folder per (source dir, revision). */
export function snapshotDir(cacheDir: string, sourceDir: string, revision: string): string {
  const id = createHash('sha256').update(path.resolve(sourceDir)).update('\0').update(revision).digest('hex').slice(0, 24);
  return path.join(cacheDir, id);
}

/**
 * The directory to build `revision` of `sourceDir` from: the kept copy, made now
 * if this revision has not run on this agent before. Without a revision the
 * folder itself is used (nothing names what it should hold).
 */
export async function sourceForRevision(cacheDir: string, sourceDir: string, revision: string | undefined): Promise<string> {
  if (revision === undefined || revision === '') return sourceDir;
  const target = snapshotDir(cacheDir, sourceDir, revision);
  if (await markUsedIfPresent(target)) return target;
  // Copy beside, then rename: a half-written copy is never mistaken for a snapshot.
  const partial = `${target}.partial-${randomBytes(4).toString('hex')}`;
  const source = path.resolve(sourceDir);
  await fs.mkdir(cacheDir, { recursive: true });
  await fs.cp(source, partial, {
    recursive: true, verbatimSymlinks: true,
    filter: (src) => !SKIPPED_SOURCE_ENTRIES.has(path.basename(src)) || src === source,
  });
  try {
    await fs.rename(partial, target);
  } catch (error) {
    // Another instance of the same revision made it first: use theirs.
    await fs.rm(partial, { recursive: true, force: true });
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw error;
  }
  await pruneLeastRecent(cacheDir, target, KEPT_SNAPSHOTS);
  return target;
}

/** A cache hit: true when `dir` exists, its mtime set to now so that pruning takes it last. */
export async function markUsedIfPresent(dir: string): Promise<boolean> {
  try {
    const now = new Date();
    await fs.utimes(dir, now, now);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    return false;
  }
}

/**
 * Keeps the `count` most recently used directories of `cacheDir` (by mtime; half-made
 * `.partial-` ones skipped) and every directory in `keep`; removes the rest. Shared by
 * source snapshots and bundles.
 */
export async function pruneLeastRecent(cacheDir: string, keep: string | ReadonlySet<string>, count: number): Promise<void> {
  const kept = typeof keep === 'string' ? new Set([keep]) : keep;
  const entries = await fs.readdir(cacheDir, { withFileTypes: true });
  const dirs: { dir: string; usedAt: number }[] = [];
  for (const entry of entries) {
    if (!entry.isDirectory() || entry.name.includes('.partial-')) continue;
    const dir = path.join(cacheDir, entry.name);
    const info = await fs.stat(dir).catch(() => null);
    if (info) dirs.push({ dir, usedAt: info.mtimeMs });
  }
  dirs.sort((a, b) => b.usedAt - a.usedAt);
  for (const { dir } of dirs.slice(count)) {
    if (!kept.has(dir)) await fs.rm(dir, { recursive: true, force: true });
  }
}
