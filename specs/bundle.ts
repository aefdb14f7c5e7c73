// A source folder as a content-addressed bundle: a tar of its files honouring
// .gitignore and .forgeignore, built reproducibly (sorted entries, fixed mtime,
// no owner names or ids, modes normalized to 0644/0755), so the same files give
// the same digest on any machine. The digest is the sha256 of the uncompressed
// tar; the gzip around it is only transport and storage, so a different zlib
// never changes a digest.
//
// node-tar writes the archive: a maintained implementation of the ustar/pax
// format (long names, symlinks, path checks on extract) that we would otherwise
// have to get right by hand; we only choose what goes in and in which order.

import { createHash } from 'node:crypto';
import { lstat, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import ignore, { type Ignore } from 'ignore';
import { create as createTar } from 'tar';
import { ForgeError } from '../errors/index.ts';
import type { ServiceSpec } from './types.ts';

/** Never in a bundle: installed dependencies are rebuilt on the agent; VCS and Forge state are not the app's. */
export const ALWAYS_EXCLUDED: ReadonlySet<string> = new Set(['.git', 'node_modules', '.forge']);

/** The default ceiling of one bundle, compressed (the control plane's FORGE_BUNDLE_LIMIT may differ). */
export const DEFAULT_BUNDLE_LIMIT_BYTES = 100 * 1024 * 1024;

export const BUNDLE_DIGEST = /^sha256:[0-9a-f]{64}$/;

export function isBundleDigest(text: string | undefined): text is string {
  return text !== undefined && BUNDLE_DIGEST.test(text);
}

export interface Bundle {
  /** `sha256:<hex>` of the uncompressed tar. */
  digest: string;
  /** The tar, gzipped: what is uploaded and stored. */
  gzip: Buffer;
  /** Size of the uncompressed tar. */
  tarBytes: number;
  /** Relative paths in the bundle, in archive order. */
  files: string[];
}

interface Rules {
  base: string;
  ig: Ignore;
}

async function rulesIn(dir: string, names: readonly string[]): Promise<Rules | null> {
  const texts: string[] = [];
  for (const name of names) {
    const text = await readFile(path.join(dir, name), 'utf8').catch(() => null);
    if (text !== null) texts.push(text);
  }
  return texts.length === 0 ? null : { base: dir, ig: ignore().add(texts.join('\n')) };
}

function ignored(rules: readonly Rules[], full: string, isDir: boolean): boolean {
  return rules.some(({ base, ig }) => {
    const rel = path.relative(base, full).split(path.sep).join('/');
    return rel !== '' && ig.ignores(isDir ? `${rel}/` : rel);
  });
}

/** Files (and symlinks) of `root` a bundle holds, sorted by their `/`-separated relative path. */
export async function bundleFiles(root: string): Promise<string[]> {
  const out: string[] = [];
  async function walk(dir: string, inherited: readonly Rules[]): Promise<void> {
    // .forgeignore only at the root: it is Forge's file, not git's.
    const own = await rulesIn(dir, dir === root ? ['.gitignore', '.forgeignore'] : ['.gitignore']);
    const rules = own ? [...inherited, own] : inherited;
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      if (ALWAYS_EXCLUDED.has(entry.name)) continue;
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        if (!ignored(rules, full, true)) await walk(full, rules);
      } else if ((entry.isFile() || entry.isSymbolicLink()) && !ignored(rules, full, false)) {
        out.push(path.relative(root, full).split(path.sep).join('/'));
      }
    }
  }
  await walk(root, []);
  return out.sort();
}

/** Packs `dir`; a bundle over `limitBytes` (compressed) is E_TOO_LARGE, before anything is sent. */
export async function packBundle(dir: string, options: { limitBytes?: number } = {}): Promise<Bundle> {
  const root = path.resolve(dir);
  const info = await lstat(root).catch(() => null);
  if (!info?.isDirectory()) throw new ForgeError('E_USAGE', `source folder ${root} does not exist or is not a directory`);
  const files = await bundleFiles(root);
  const chunks: Buffer[] = [];
  const stream = createTar({
    cwd: root, portable: true, mtime: new Date(0), noDirRecurse: true, follow: false,
    onWriteEntry(entry) {
      // Only the executable bit survives: umask and owner differ between machines.
      if (entry.stat && entry.type !== 'SymbolicLink') entry.stat.mode = (entry.stat.mode & 0o111) !== 0 ? 0o755 : 0o644;
    },
  }, files);
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Uint8Array));
  const tar = Buffer.concat(chunks);
  const gzip = gzipSync(tar, { level: 6 });
  const limit = options.limitBytes ?? DEFAULT_BUNDLE_LIMIT_BYTES;
  if (gzip.length > limit) {
    throw new ForgeError('E_TOO_LARGE', `the bundle of ${root} is ${mb(gzip.length)} compressed, over the ${mb(limit)} limit: list build output and data in .forgeignore`, {
      details: { bytes: gzip.length, limitBytes: limit },
    });
  }
  return { digest: `sha256:${createHash('sha256').update(tar).digest('hex')}`, gzip, tarBytes: tar.length, files };
}

export function mb(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/**
 * Which specs travel as bundles: agent-built source services (build + run from a folder), and
 * Dockerfile services for agents (the folder is buildah's build context there).
 */
export function shipsSource(spec: ServiceSpec): spec is ServiceSpec & { sourceDir: string } {
  if (spec.sourceDir === undefined || spec.image !== undefined) return false;
  return spec.run !== undefined || (spec.provider === 'agent' && spec.build?.dockerfile !== undefined);
}

/** Packs each shipping spec's folder, hands the bundle to `keep`, and names its digest as the revision. */
export async function bundleSpecs(specs: readonly ServiceSpec[], keep: (bundle: Bundle) => Promise<void>, options: { limitBytes?: number } = {}): Promise<ServiceSpec[]> {
  const byDir = new Map<string, Bundle>();
  const out: ServiceSpec[] = [];
  for (const spec of specs) {
    if (!shipsSource(spec)) {
      out.push(spec);
      continue;
    }
    let bundle = byDir.get(spec.sourceDir);
    if (!bundle) {
      bundle = await packBundle(spec.sourceDir, options);
      await keep(bundle);
      byDir.set(spec.sourceDir, bundle);
    }
    out.push({ ...spec, revision: bundle.digest });
  }
  return out;
}
