// A service's build cache on its agent, kept between builds:
//   <root>/<service>/npm, pip, xdg   package managers' download caches (npm_config_cache,
//                                    PIP_CACHE_DIR, XDG_CACHE_HOME for everything else)
//   <root>/<service>/deps/<lock>/    the dependency folders (node_modules) the last good
//                                    build produced, keyed by the lockfile's digest
// A build whose lockfile is unchanged starts with the previous release's
// node_modules, so `npm install` has nothing to do; a changed lockfile starts clean
// but still installs from the local download cache. Bounded: one deps folder per
// service (the latest lockfile), and the download caches are emptied when the
// service's cache passes its size limit.

import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';

/** Lockfiles whose content decides whether the previous dependency folder is still right. */
export const LOCKFILES = ['package-lock.json', 'npm-shrinkwrap.json', 'yarn.lock', 'pnpm-lock.yaml'] as const;
/** Dependency folders carried from one release to the next when the lockfile is unchanged. */
export const DEPENDENCY_DIRS = ['node_modules'] as const;
/** A service's whole cache (downloads + deps) beyond this is trimmed after a build. */
export const DEFAULT_CACHE_LIMIT_BYTES = 2 * 1024 ** 3;

export interface BuildCache {
  /** The service's cache folder (holds every dir of `dirs`): a sandbox mounts it writable. */
  dir: string;
  /** Cache variables for the build's environment (the spec's own env wins over them). */
  env: Record<string, string>;
  /** Folders the build must be able to write (a sandbox with its own root filesystem mounts them). */
  dirs: string[];
  /** The lockfile digest this build runs with, or null without a lockfile. */
  lock: string | null;
  /** True when the previous release's dependency folders were put in place. */
  restored: boolean;
  /** After a successful build: keep its dependency folders for the next one, then bound the cache. */
  save(): Promise<void>;
}

function slug(service: string): string {
  return service.replace(/[^A-Za-z0-9._-]+/g, '_');
}

async function lockDigest(workDir: string): Promise<string | null> {
  const hash = createHash('sha256');
  let found = false;
  for (const name of LOCKFILES) {
    const text = await fs.readFile(path.join(workDir, name)).catch(() => null);
    if (text === null) continue;
    found = true;
    hash.update(name).update('\0').update(text).update('\0');
  }
  return found ? hash.digest('hex').slice(0, 32) : null;
}

async function sizeOf(dir: string): Promise<number> {
  let total = 0;
  const entries = await fs.readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const entry of entries) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) total += await sizeOf(full);
    else if (entry.isFile()) total += (await fs.stat(full).catch(() => ({ size: 0 }))).size;
  }
  return total;
}

/** Sets up the cache for one build of `service` in `workDir` (already holding the release's source). */
export async function prepareBuildCache(root: string, service: string, workDir: string, options: { limitBytes?: number } = {}): Promise<BuildCache> {
  const base = path.join(root, slug(service));
  const dirs = { npm: path.join(base, 'npm'), pip: path.join(base, 'pip'), xdg: path.join(base, 'xdg') };
  for (const dir of Object.values(dirs)) await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  const lock = await lockDigest(workDir);
  let restored = false;
  if (lock !== null) {
    const kept = path.join(base, 'deps', lock);
    for (const name of DEPENDENCY_DIRS) {
      const from = path.join(kept, name);
      const to = path.join(workDir, name);
      if (!(await fs.stat(from).catch(() => null))?.isDirectory()) continue;
      if (await fs.stat(to).catch(() => null)) continue; // the source brought its own: leave it
      // A copy, not links: a build may change files in place, and the kept folder must stay as it was.
      await fs.cp(from, to, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
      restored = true;
    }
  }
  return {
    dir: base,
    env: {
      npm_config_cache: dirs.npm,
      // The cache is filled: skip the registry's freshness checks for what it already holds.
      npm_config_prefer_offline: 'true',
      npm_config_update_notifier: 'false',
      npm_config_fund: 'false',
      npm_config_audit: 'false',
      PIP_CACHE_DIR: dirs.pip,
      XDG_CACHE_HOME: dirs.xdg,
    },
    dirs: [...Object.values(dirs)],
    lock,
    restored,
    async save() {
      if (lock === null) return;
      const depsRoot = path.join(base, 'deps');
      const target = path.join(depsRoot, lock);
      const partial = `${target}.partial`;
      await fs.rm(partial, { recursive: true, force: true });
      let any = false;
      for (const name of DEPENDENCY_DIRS) {
        const from = path.join(workDir, name);
        if (!(await fs.stat(from).catch(() => null))?.isDirectory()) continue;
        await fs.cp(from, path.join(partial, name), { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
        any = true;
      }
      if (!any) return;
      // Only the latest lockfile's folder is kept: older ones only served older releases.
      for (const old of await fs.readdir(depsRoot).catch(() => [] as string[])) {
        if (path.join(depsRoot, old) !== partial) await fs.rm(path.join(depsRoot, old), { recursive: true, force: true });
      }
      await fs.rename(partial, target);
      if (await sizeOf(base) > (options.limitBytes ?? DEFAULT_CACHE_LIMIT_BYTES)) {
        for (const dir of Object.values(dirs)) {
          await fs.rm(dir, { recursive: true, force: true });
          await fs.mkdir(dir, { recursive: true, mode: 0o700 });
        }
      }
    },
  };
}
