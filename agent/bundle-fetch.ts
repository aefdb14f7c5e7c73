// The agent's bundle cache: a release names its source by bundle digest; the
// first task that needs it downloads the gzip from the control plane (agent
// protocol, the agent's own token), checks that the uncompressed tar hashes to
// the digest, and extracts it into <data dir>/bundles/<hex>. Later tasks of the
// same digest, rollbacks and restarts included, build from that folder: nothing
// is ever read from the control plane's or the user's disk.
//
// Retention: the folder of every bundle an instance on this agent runs is kept; of
// the rest, the KEPT_BUNDLES most recently used. A pruned one is only a cache miss:
// the control plane keeps every bundle a kept release names (api/retention.ts), so a
// rollback or a late restart fetches it again.

import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, promises as fs } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { extract } from 'tar';
import { ForgeError } from '../errors/index.ts';
import { markUsedIfPresent, pruneLeastRecent } from './runner/source-cache.ts';

/** Extracted bundles kept per agent; the least recently used go first. */
export const KEPT_BUNDLES = 20;

export type BundleDownload = (digest: string, signal?: AbortSignal) => Promise<ReadableStream<Uint8Array>>;

const inflight = new Map<string, Promise<string>>();

/** Digests the instances on this agent run now: never pruned. */
export type BundlesInUse = () => Iterable<string>;

/** The folder holding `digest`'s files, downloaded and verified now when this agent has not got it. */
export function bundleSource(cacheDir: string, digest: string, download: BundleDownload, signal?: AbortSignal, inUse: BundlesInUse = () => []): Promise<string> {
  const key = `${cacheDir}\0${digest}`;
  let pending = inflight.get(key);
  if (!pending) {
    // Two replicas of one release on this agent share one download.
    pending = fetchOnce(cacheDir, digest, download, signal, inUse).finally(() => inflight.delete(key));
    inflight.set(key, pending);
  }
  return pending;
}

async function fetchOnce(cacheDir: string, digest: string, download: BundleDownload, signal: AbortSignal | undefined, inUse: BundlesInUse): Promise<string> {
  const hex = digest.slice('sha256:'.length);
  if (!/^[0-9a-f]{64}$/.test(hex) || !digest.startsWith('sha256:')) throw new ForgeError('E_BAD_REQUEST', `not a bundle digest: ${digest}`, { terminal: true });
  const target = path.join(cacheDir, hex);
  if (await markUsedIfPresent(target)) return target;
  await fs.mkdir(cacheDir, { recursive: true, mode: 0o700 });
  const partial = `${target}.partial-${randomBytes(4).toString('hex')}`;
  const archive = `${partial}.tar.gz`;
  try {
    const body = await download(digest, signal);
    await pipeline(Readable.fromWeb(body as import('node:stream/web').ReadableStream<Uint8Array>), createWriteStream(archive, { mode: 0o600 }));
    const hash = createHash('sha256');
    await pipeline(createReadStream(archive), createGunzip(), async function* (chunks: AsyncIterable<Buffer>) {
      for await (const chunk of chunks) hash.update(chunk);
    });
    const actual = `sha256:${hash.digest('hex')}`;
    if (actual !== digest) throw new ForgeError('E_BUILD_FAILED', `bundle ${digest} from the control plane hashes to ${actual}: refused`);
    await fs.mkdir(partial, { recursive: true });
    // tar refuses absolute paths, `..` and writing through symlinks by default.
    await extract({ file: archive, cwd: partial, strict: true, preserveOwner: false });
    try {
      await fs.rename(partial, target);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw error;
      await fs.rm(partial, { recursive: true, force: true }); // another agent process made it first
    }
  } catch (error) {
    await fs.rm(partial, { recursive: true, force: true });
    throw error instanceof ForgeError ? error : new ForgeError('E_BUILD_FAILED', `could not fetch bundle ${digest}: ${(error as Error).message}`, { cause: error });
  } finally {
    await fs.rm(archive, { force: true });
  }
  await pruneLeastRecent(cacheDir, keptDirs(cacheDir, target, inUse), KEPT_BUNDLES);
  return target;
}


/** The folders pruning must leave: the one just fetched and those of the bundles in use. */
export function keptDirs(cacheDir: string, target: string, inUse: BundlesInUse): Set<string> {
  const out = new Set([target]);
  for (const digest of inUse()) {
    if (/^sha256:[0-9a-f]{64}$/.test(digest)) out.add(path.join(cacheDir, digest.slice('sha256:'.length)));
  }
  return out;
}
