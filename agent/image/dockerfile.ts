// `build.dockerfile` services on an agent: buildah builds the image from the release's
// source bundle (the build context) into the agent's own container storage, then the
// result is copied into the image cache's OCI layout and runs like any image.
//
// Why buildah: it needs no daemon (nothing long-running as root to talk to), reads
// Dockerfiles as they are written, and keeps intermediate layers (`--layers`) in its
// storage, so a rebuild after a one-line change reuses every step before that line.
// Its RUN steps are untrusted code: they run under crun in a user namespace mapped
// onto the service's own unprivileged identity block (the same one its app gets),
// with every capability dropped.
//
// Each service has its own buildah store. With vfs, a layer's files are stored with
// the host ids of the mapping it was built under, and buildah's layer cache does not
// key on that mapping: in one shared store, a service reusing a step another service
// built got a root filesystem owned by that other block, unmapped (nobody) in its
// own namespace, and its first RUN failed with "Permission denied". One store per
// identity block also keeps one service's cached RUN output out of another's image,
// and `buildah rm --all` after a build away from another service's running build.

import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { ForgeError } from '../../errors/index.ts';
import { isBundleDigest } from '../../specs/bundle.ts';
import type { ServiceSpec } from '../../specs/types.ts';
import { IDENTITY_BLOCK, type SandboxIdentity } from '../sandbox/identity.ts';
import type { ImageRelease } from './release.ts';
import { layoutTag } from './skopeo.ts';
import { buildStoreDir, buildTag, storageFlags, withBuildStore } from './build-stores.ts';
import type { ImageStore } from './store.ts';
import { unpackImage } from './unpack.ts';
import { cleanLine } from './errors.ts';
import { detectIsolation } from '../sandbox/detect.ts';

/** A spec built from a Dockerfile on the agent (no run.command: the image says what runs). */
export function isDockerfileSpec(spec: ServiceSpec): boolean {
  return spec.image === undefined && spec.build?.dockerfile !== undefined && spec.run === undefined;
}

/** buildah's global storage flags: the store of one service's identity block (slots are never reused), never the host's default store. */
export function buildahStorage(dataDir: string, identity: Pick<SandboxIdentity, 'slot'>): string[] {
  return storageFlags(buildStoreDir(dataDir, identity.slot));
}

/** The one store all services shared before: its layers belong to whichever block built them, so none is reused. */
function legacySharedStores(dataDir: string): string[] {
  return [path.join(dataDir, 'images', 'buildah'), path.join(dataDir, 'images', 'buildah-run')];
}

interface Step {
  code: number;
  lines: string[];
}

/**
 * On a hybrid cgroup host crun refuses to run while a cgroup2 hierarchy is mounted
 * (the sandbox hides it the same way: sandbox/runtime.ts): buildah then runs in a
 * private mount namespace without it.
 */
function runBuildah(args: string[], onLine: (line: string, stream: 'stdout' | 'stderr') => void, signal?: AbortSignal, hideUnified: string | null = null): Promise<Step> {
  const [file, argv] = hideUnified === null
    ? ['buildah', args]
    : ['unshare', ['--mount', '--propagation', 'private', '/bin/sh', '-c', 'umount -l "$0" && exec "$@"', hideUnified, 'buildah', ...args]];
  return new Promise((resolve) => {
    const lines: string[] = [];
    const child = spawn(file, argv, {
      stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/nonexistent', BUILDAH_LAYERS: 'true' },
      ...(signal ? { signal } : {}),
    });
    for (const [stream, pipe] of [['stdout', child.stdout], ['stderr', child.stderr]] as const) {
      let rest = '';
      pipe.setEncoding('utf8').on('data', (chunk: string) => {
        const parts = (rest + chunk).split('\n');
        rest = parts.pop() ?? '';
        for (const line of parts) {
          lines.push(line);
          if (lines.length > 200) lines.shift();
          onLine(line, stream);
        }
      });
      pipe.on('end', () => { if (rest !== '') { lines.push(rest); onLine(rest, stream); } });
    }
    child.on('error', (error) => resolve({ code: 127, lines: [...lines, (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'buildah is not installed on this agent (apt-get install buildah)' : error.message] }));
    child.on('close', (code) => resolve({ code: code ?? 1, lines }));
  });
}

export async function buildDockerfileRelease(input: {
  images: ImageStore;
  spec: ServiceSpec;
  bundleDir: string;
  identity: SandboxIdentity;
  dataDir: string;
  logFile: string;
  bundleSource?: ((digest: string, signal?: AbortSignal) => Promise<string>) | undefined;
  signal?: AbortSignal;
  onLine(line: string, stream: 'stdout' | 'stderr'): void;
}): Promise<ImageRelease> {
  const { spec } = input;
  const dockerfile = spec.build?.dockerfile ?? 'Dockerfile';
  const context = isBundleDigest(spec.revision) && input.bundleSource !== undefined
    ? await input.bundleSource(spec.revision!, input.signal)
    : spec.sourceDir;
  if (context === undefined) throw new ForgeError('E_SPEC_INVALID', `${spec.name}: a Dockerfile build needs its source folder`, { terminal: true });
  const file = path.resolve(context, dockerfile);
  if (!file.startsWith(`${path.resolve(context)}/`)) throw new ForgeError('E_SPEC_INVALID', `${spec.name}: build.dockerfile ${dockerfile} is outside the source folder`, { terminal: true });
  if ((await fs.stat(file).catch(() => null))?.isFile() !== true) {
    throw new ForgeError('E_BUILD_FAILED', `${spec.name}: no Dockerfile at ${dockerfile} in the source`, { terminal: true });
  }
  await fs.mkdir(path.dirname(input.logFile), { recursive: true });
  const log = await fs.open(input.logFile, 'a', 0o600);
  const onLine = (line: string, stream: 'stdout' | 'stderr') => {
    void log.write(`${line}\n`).catch(() => undefined);
    input.onLine(line, stream);
  };
  const map = `0:${input.identity.hostBase}:${IDENTITY_BLOCK}`;
  // Tagged with the release's revision: the store's GC keeps the builds of kept releases (build-stores.ts).
  const tag = buildTag(spec.name, spec.revision);
  const started = Date.now();
  const { hideUnified } = await detectIsolation({ root: 'forge' });
  const storage = buildahStorage(input.dataDir, input.identity);
  for (const dir of legacySharedStores(input.dataDir)) await fs.rm(dir, { recursive: true, force: true });
  // Its store's GC waits for the build (and skips the store while it runs).
  return withBuildStore(buildStoreDir(input.dataDir, input.identity.slot), async () => {
    try {
      const build = await runBuildah([
        ...storage, 'bud', '--layers', '--isolation', 'oci', '--runtime', 'crun',
        '--userns-uid-map', map, '--userns-gid-map', map, '--cap-drop', 'ALL',
        '--pull=false', '-f', file, '-t', tag, context,
      ], onLine, input.signal, hideUnified);
      if (build.code !== 0) {
        throw new ForgeError('E_BUILD_FAILED', `${spec.name}: the Dockerfile build failed: ${cleanLine(build.lines.join('\n'))}`, { details: { lastLines: build.lines.slice(-20) } });
      }
      onLine(`image built in ${Date.now() - started} ms`, 'stdout');
      // Into the image cache's OCI layout, tagged with its digest, like a pulled image.
      const digestFile = path.join(input.images.privateDir, `digest-${process.pid}-${Date.now()}`);
      await fs.mkdir(input.images.privateDir, { recursive: true, mode: 0o700 });
      const digest = await input.images.exclusive(async () => {
        const pushed = await runBuildah([...storage, 'push', '--quiet', '--digestfile', digestFile, tag, `oci:${input.images.layout}:build-${spec.name}`], onLine, input.signal);
        if (pushed.code !== 0) throw new ForgeError('E_BUILD_FAILED', `${spec.name}: could not store the built image: ${cleanLine(pushed.lines.join('\n'))}`);
        const d = (await fs.readFile(digestFile, 'utf8')).trim();
        await fs.rm(digestFile, { force: true });
        // Retag by digest: the cache (and its garbage collection) knows images by digest only.
        const { execFile } = await import('node:child_process');
        await new Promise<void>((resolve, reject) => execFile('umoci', ['tag', '--image', `${input.images.layout}:build-${spec.name}`, layoutTag(d)], (e) => (e ? reject(e) : resolve())));
        await new Promise<void>((resolve) => execFile('umoci', ['rm', '--image', `${input.images.layout}:build-${spec.name}`], () => resolve()));
        return d;
      });
      const unpacked = await input.images.exclusive(() => unpackImage(input.images.layout, layoutTag(digest), input.bundleDir, input.identity));
      await fs.chmod(input.bundleDir, 0o711);
      await fs.rm(path.join(input.bundleDir, 'config.json'), { force: true });
      return { digest, unpacked };
    } finally {
      // Working containers of a build that died (bud removes its own when it ends normally).
      await runBuildah([...storage, 'rm', '--all'], () => {}).catch(() => undefined);
      input.images.buildsChanged();
      await log.close();
    }
  });
}
