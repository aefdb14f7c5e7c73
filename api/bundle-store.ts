// The control plane's bundles: one gzipped tar per digest in <data dir>/bundles,
// written beside and renamed into place only after its digest checked out, so a
// stored file is always whole and always what its name says. Deduplicated by
// construction (the name is the digest). Retention: a bundle stays while a
// service or any release (rollback targets) names it, or while it is young (an
// upload whose apply has not landed yet); the rest is removed by prune().

import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, promises as fs } from 'node:fs';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { ForgeError } from '../errors/index.ts';
import { isBundleDigest, mb, type Bundle } from '../specs/bundle.ts';

/** An upload that no release names yet is kept this long before prune() may take it. */
export const UNREFERENCED_GRACE_MS = 60 * 60_000;

/** A gzip that inflates beyond this many times the upload limit is refused (a decompression bomb). */
const INFLATE_FACTOR = 8;

export interface BundleStore {
  readonly dir: string;
  readonly limitBytes: number;
  has(digest: string): Promise<boolean>;
  /** Path of the stored gzip, or null when absent. */
  file(digest: string): Promise<string | null>;
  size(digest: string): Promise<number | null>;
  /** Stores an upload; throws E_BAD_REQUEST when its content is not `digest`, E_TOO_LARGE over the limit. */
  put(digest: string, body: Readable): Promise<{ stored: boolean; bytes: number }>;
  /** Stores a bundle packed on this host (webhook checkouts, forge dev). */
  putPacked(bundle: Bundle): Promise<void>;
  /** Removes bundles nobody references and older than the grace; returns the removed digests. */
  prune(referenced: ReadonlySet<string>, now?: number, graceMs?: number): Promise<string[]>;
}

export function checkDigest(digest: string): asserts digest is string {
  if (!isBundleDigest(digest)) throw new ForgeError('E_BAD_REQUEST', `not a bundle digest: ${JSON.stringify(String(digest).slice(0, 80))} (expected sha256:<64 hex digits>)`);
}

export function createBundleStore(dir: string, limitBytes: number): BundleStore {
  const fileOf = (digest: string) => path.join(dir, `${digest.slice('sha256:'.length)}.tar.gz`);

  async function file(digest: string): Promise<string | null> {
    checkDigest(digest);
    const target = fileOf(digest);
    return (await fs.stat(target).catch(() => null))?.isFile() ? target : null;
  }

  async function commit(partial: string, digest: string): Promise<void> {
    const target = fileOf(digest);
    await fs.rename(partial, target);
    const now = new Date();
    await fs.utimes(target, now, now).catch(() => undefined);
  }

  return {
    dir,
    limitBytes,
    file,
    async has(digest) {
      return (await file(digest)) !== null;
    },
    async size(digest) {
      const found = await file(digest);
      return found === null ? null : (await fs.stat(found)).size;
    },
    async put(digest, body) {
      checkDigest(digest);
      if (await file(digest)) {
        body.resume();
        return { stored: false, bytes: 0 };
      }
      await fs.mkdir(dir, { recursive: true, mode: 0o700 });
      const partial = path.join(dir, `.partial-${randomBytes(6).toString('hex')}`);
      const hash = createHash('sha256');
      let bytes = 0;
      let inflated = 0;
      const tooLarge = () => new ForgeError('E_TOO_LARGE', `bundle over the ${mb(limitBytes)} upload limit of this control plane`, { details: { limitBytes } });
      const counter = new Transform({
        transform(chunk: Buffer, _enc, done) {
          bytes += chunk.length;
          if (bytes > limitBytes) return done(tooLarge());
          done(null, chunk);
        },
      });
      const out = createWriteStream(partial, { mode: 0o600 });
      const gunzip = createGunzip();
      gunzip.on('data', (chunk: Buffer) => {
        inflated += chunk.length;
        if (inflated > limitBytes * INFLATE_FACTOR) gunzip.destroy(tooLarge());
        hash.update(chunk);
      });
      const verified = new Promise<void>((resolve, reject) => {
        gunzip.on('end', resolve);
        gunzip.on('error', reject);
      });
      try {
        counter.pipe(gunzip);
        await Promise.all([pipeline(body, counter, out), verified]);
      } catch (error) {
        await fs.rm(partial, { force: true });
        if (error instanceof ForgeError) throw error;
        throw new ForgeError('E_BAD_REQUEST', `the upload is not a gzipped bundle: ${(error as Error).message}`);
      }
      const actual = `sha256:${hash.digest('hex')}`;
      if (actual !== digest) {
        await fs.rm(partial, { force: true });
        throw new ForgeError('E_BAD_REQUEST', `the upload's content is ${actual}, not ${digest}`, { details: { expected: digest, actual } });
      }
      await commit(partial, digest);
      return { stored: true, bytes };
    },
    async putPacked(bundle) {
      if (await file(bundle.digest)) {
        const now = new Date();
        await fs.utimes(fileOf(bundle.digest), now, now).catch(() => undefined);
        return;
      }
      await fs.mkdir(dir, { recursive: true, mode: 0o700 });
      const partial = path.join(dir, `.partial-${randomBytes(6).toString('hex')}`);
      await fs.writeFile(partial, bundle.gzip, { mode: 0o600 });
      await commit(partial, bundle.digest);
    },
    async prune(referenced, now = Date.now(), graceMs = UNREFERENCED_GRACE_MS) {
      const removed: string[] = [];
      const names = await fs.readdir(dir).catch(() => [] as string[]);
      for (const name of names) {
        const match = /^([0-9a-f]{64})\.tar\.gz$/.exec(name);
        const full = path.join(dir, name);
        const info = await fs.stat(full).catch(() => null);
        if (!info) continue;
        if (!match) {
          // A partial upload left by a crash.
          if (name.startsWith('.partial-') && now - info.mtimeMs > graceMs) await fs.rm(full, { force: true });
          continue;
        }
        const digest = `sha256:${match[1]}`;
        if (referenced.has(digest) || now - info.mtimeMs <= graceMs) continue;
        await fs.rm(full, { force: true });
        removed.push(digest);
      }
      return removed;
    },
  };
}

/** Streams a stored bundle (the agent route). */
export function readBundle(file: string): Readable {
  return createReadStream(file);
}
