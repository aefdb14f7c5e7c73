// The agent's image cache: one OCI layout (<data>/images/oci) holding every image it
// pulled or built, each tagged with its manifest digest, so layers shared between
// images or releases are stored and fetched once. Pulls into the layout are
// serialized (skopeo rewrites index.json). Garbage collection removes the tags no
// kept release uses and lets umoci drop the blobs nothing references any more.
// The per-service build stores are pruned by the same rule (build-stores.ts) and
// counted in the usage the agent reports (IMAGES in `forge agents`).

import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { layoutTag, pullInto, resolveDigest, type PullContext } from './skopeo.ts';
import type { ImageReference } from '../../specs/image-ref.ts';
import { buildStoresBytes, pruneBuildStores, type BuildStoreGc } from './build-stores.ts';

const run = promisify(execFile);

export interface ImageStore {
  /** The OCI layout directory (umoci and buildah read it). */
  layout: string;
  /** 0700 dir for short-lived credential files. */
  privateDir: string;
  /** The digest to run (the pinned one, or the tag resolved now) and a local copy of it. */
  ensure(ref: ImageReference, pinned: string | undefined, context: Omit<PullContext, 'privateDir'>): Promise<{ digest: string; pulled: boolean }>;
  /** Whether the layout holds the image with this manifest digest. */
  has(digest: string): Promise<boolean>;
  /** Runs `work` while no pull or prune touches the layout. */
  exclusive<T>(work: () => Promise<T>): Promise<T>;
  /** Drops every image not in `keep` and the blobs only they used; returns the digests removed. */
  prune(keep: ReadonlySet<string>): Promise<string[]>;
  /** Applies the GC rule to the per-service build stores (build-stores.ts): `keep` maps a slot to its kept build tags. */
  pruneBuilds(keep: ReadonlyMap<number, ReadonlySet<string>>): Promise<BuildStoreGc>;
  /** A build changed the build stores: the next usage figure walks them again. */
  buildsChanged(): void;
  /** Bytes the layout's blobs and the build stores take on disk. */
  usageBytes(): Promise<number>;
}

/** Walking the build stores (every file of every vfs layer) is not done per heartbeat: at most this often, or after a change. */
const BUILD_USAGE_TTL_MS = 60_000;

interface OciIndex {
  manifests?: Array<{ digest?: string; annotations?: Record<string, string> }>;
}

export function createImageStore(dataDir: string): ImageStore {
  const root = path.join(dataDir, 'images');
  const layout = path.join(root, 'oci');
  const privateDir = path.join(root, 'private');
  let chain: Promise<unknown> = Promise.resolve();
  let builds: { at: number; bytes: number } | undefined;
  const exclusive = <T>(work: () => Promise<T>): Promise<T> => {
    const next = chain.then(async () => {
      await fs.mkdir(root, { recursive: true, mode: 0o700 });
      return work();
    });
    chain = next.catch(() => undefined);
    return next;
  };

  async function tags(): Promise<Map<string, string>> {
    const text = await fs.readFile(path.join(layout, 'index.json'), 'utf8').catch(() => null);
    const out = new Map<string, string>(); // tag → manifest digest
    if (text === null) return out;
    for (const m of (JSON.parse(text) as OciIndex).manifests ?? []) {
      const tag = m.annotations?.['org.opencontainers.image.ref.name'];
      if (tag !== undefined && m.digest !== undefined) out.set(tag, m.digest);
    }
    return out;
  }

  const has = async (digest: string) => (await tags()).has(layoutTag(digest));

  return {
    layout,
    privateDir,
    has,
    exclusive,
    async ensure(ref, pinned, context) {
      const full = { ...context, privateDir };
      // A pinned digest already here needs no registry at all (a rollback while the registry is down still works).
      if (pinned !== undefined && (await has(pinned))) return { digest: pinned, pulled: false };
      const digest = pinned ?? (await resolveDigest(ref, full));
      return exclusive(async () => {
        if (await has(digest)) return { digest, pulled: false };
        await pullInto(layout, ref, digest, full);
        return { digest, pulled: true };
      });
    },
    prune(keep) {
      return exclusive(async () => {
        const removed: string[] = [];
        for (const [tag] of await tags()) {
          const digest = `sha256:${tag}`;
          if (keep.has(digest)) continue;
          await run('umoci', ['rm', '--image', `${layout}:${tag}`], { timeout: 60_000 });
          removed.push(digest);
        }
        if (removed.length > 0) await run('umoci', ['gc', '--layout', layout], { timeout: 10 * 60_000 });
        return removed;
      });
    },
    async pruneBuilds(keep) {
      try {
        return await pruneBuildStores(dataDir, keep);
      } finally {
        builds = undefined;
      }
    },
    buildsChanged() {
      builds = undefined;
    },
    async usageBytes() {
      const dir = path.join(layout, 'blobs', 'sha256');
      const names = await fs.readdir(dir).catch(() => [] as string[]);
      let total = 0;
      for (const name of names) total += (await fs.stat(path.join(dir, name)).catch(() => null))?.size ?? 0;
      if (builds === undefined || Date.now() - builds.at > BUILD_USAGE_TTL_MS) builds = { at: Date.now(), bytes: await buildStoresBytes(dataDir) };
      return total + builds.bytes;
    },
  };
}
