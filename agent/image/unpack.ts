// An image's root filesystem for one instance: umoci unpacks the layers from the
// agent's OCI layout into the instance's own (size-limited) directory, with every
// file's owner shifted onto the service's host identity block — the same mapping
// the sandbox's user namespace uses (sandbox/identity.ts), so inside the container
// the files have the owners the image gave them, and outside they belong to an
// unprivileged range no other service shares.

import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { ForgeError } from '../../errors/index.ts';
import { IDENTITY_BLOCK, type SandboxIdentity } from '../sandbox/identity.ts';

const run = promisify(execFile);

/** What the image says to run, as umoci resolved it from the image config (user names looked up in its /etc/passwd). */
export interface ImageProcess {
  args: string[];
  /** `KEY=value` entries of the image's Env. */
  env: string[];
  cwd: string;
  uid: number;
  gid: number;
  additionalGids: number[];
}

export interface UnpackedImage {
  /** Host path of the root the instance gets (writable, on its own filesystem). */
  rootfs: string;
  process: ImageProcess;
}

/** Mount points the sandbox's config needs in every root; an image may have none of them. */
const MOUNT_DIRS = ['proc', 'dev', 'tmp', 'etc'];
const MOUNT_FILES = ['etc/resolv.conf', 'etc/hosts', 'etc/hostname'];

export async function unpackImage(layout: string, tag: string, bundleDir: string, identity: SandboxIdentity): Promise<UnpackedImage> {
  await fs.rm(bundleDir, { recursive: true, force: true });
  const map = `0:${identity.hostBase}:${IDENTITY_BLOCK}`;
  try {
    await run('umoci', ['unpack', '--uid-map', map, '--gid-map', map, '--image', `${layout}:${tag}`, bundleDir], { timeout: 10 * 60_000, maxBuffer: 16 * 1024 * 1024 });
  } catch (err) {
    const stderr = String((err as { stderr?: string }).stderr ?? (err as Error).message).trim().split('\n').pop() ?? '';
    throw new ForgeError('E_PROVIDER', `could not unpack the image (umoci): ${stderr.slice(0, 300)}`, { cause: err });
  }
  const config = JSON.parse(await fs.readFile(path.join(bundleDir, 'config.json'), 'utf8')) as { process?: Record<string, unknown> };
  const p = config.process ?? {};
  const user = (p.user ?? {}) as { uid?: number; gid?: number; additionalGids?: number[] };
  const args = Array.isArray(p.args) ? p.args.map(String) : [];
  if (args.length === 0) {
    throw new ForgeError('E_SPEC_INVALID', 'the image has neither an entrypoint nor a cmd: nothing to run', { terminal: true });
  }
  const rootfs = path.join(bundleDir, 'rootfs');
  // The runtime mounts onto these; created as the image's root (the block's first id) so the app cannot replace them.
  for (const dir of MOUNT_DIRS) {
    const at = path.join(rootfs, dir);
    const st = await fs.lstat(at).catch(() => null);
    if (st?.isSymbolicLink() === true) await fs.rm(at, { force: true });
    if (st === null || st.isSymbolicLink()) {
      await fs.mkdir(at, { mode: 0o755 });
      await fs.lchown(at, identity.hostBase, identity.hostBase);
    }
  }
  for (const file of MOUNT_FILES) {
    const at = path.join(rootfs, file);
    const st = await fs.lstat(at).catch(() => null);
    if (st !== null && !st.isFile()) await fs.rm(at, { recursive: true, force: true });
    if (st === null || !st.isFile()) {
      await fs.writeFile(at, '', { mode: 0o644 });
      await fs.lchown(at, identity.hostBase, identity.hostBase);
    }
  }
  return {
    rootfs,
    process: {
      args,
      env: Array.isArray(p.env) ? p.env.map(String) : [],
      cwd: typeof p.cwd === 'string' && p.cwd.startsWith('/') ? p.cwd : '/',
      uid: typeof user.uid === 'number' ? user.uid : 0,
      gid: typeof user.gid === 'number' ? user.gid : 0,
      additionalGids: Array.isArray(user.additionalGids) ? user.additionalGids.filter((g) => typeof g === 'number') : [],
    },
  };
}

/** Image env (`K=v` list) under the spec's env: later wins, as for source services. */
export function imageEnv(imageEnvList: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const entry of imageEnvList) {
    const eq = entry.indexOf('=');
    if (eq > 0) out[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return out;
}
