// A digest of a service's source directory: `forge dev` puts it in the spec's
// `revision`, so saving a source file makes a new generation (a rebuild and a
// health-gated cutover) while an untouched tree keeps the same one.

import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';

/** Folders that are build output or tool state, not source. */
export const IGNORED_DIRS: ReadonlySet<string> = new Set(['.git', 'node_modules', '.forge', '.venv', 'venv', '__pycache__', '.test-output']);

const CONTENT_LIMIT = 1024 * 1024;

export async function sourceDigest(root: string): Promise<string> {
  const hash = createHash('sha256');
  const files = (await listFiles(root)).sort();
  for (const file of files) {
    const info = await stat(file);
    hash.update(relative(root, file)).update('\0');
    // Large files count by size and time, small ones by content: editors that keep mtimes still count.
    if (info.size <= CONTENT_LIMIT) hash.update(await readFile(file));
    else hash.update(`${info.size}:${info.mtimeMs}`);
    hash.update('\0');
  }
  return hash.digest('hex').slice(0, 16);
}

export function isIgnoredPath(path: string): boolean {
  return path.split(/[\\/]/).some((part) => IGNORED_DIRS.has(part));
}

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (IGNORED_DIRS.has(entry.name)) continue;
    const full = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...await listFiles(full));
    else if (entry.isFile()) out.push(full);
  }
  return out;
}
