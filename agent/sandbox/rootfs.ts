// The root an app sees: an empty directory with mount points, the host's system
// directories bound read-only, a handful of /etc entries programs need (DNS,
// TLS roots, the dynamic loader's cache), and passwd/group/hosts Forge writes.
// Nothing else of the host exists in it: no Forge data dir, no other service,
// no /root, no agent key, no /sys (so no cgroup files either).

import { lstatSync, readlinkSync, statSync } from 'node:fs';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { APP_DIR, CACHE_DIR, type HostView } from './oci-config.ts';
import { APP_ID_INSIDE } from './identity.ts';

/** Top-level system dirs: bound when real dirs, re-created as symlinks when links (merged /usr). */
const SYSTEM_DIRS = ['/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32'];

/** /etc entries apps and toolchains read; secrets never live in these. */
const ETC_ENTRIES = [
  'resolv.conf', 'nsswitch.conf', 'host.conf', 'gai.conf', 'protocols', 'services', 'mime.types',
  'ssl', 'ca-certificates', 'ca-certificates.conf', 'pki', 'crypto-policies', 'alternatives',
  'localtime', 'timezone', 'ld.so.cache', 'ld.so.conf', 'ld.so.conf.d', 'os-release', 'debian_version',
  'npmrc', 'python3', 'python3.11', 'python3.12', 'xdg', 'mailcap',
];

export interface HostLayout {
  view: HostView;
  /** Symlinks to re-create at the rootfs top (e.g. bin → usr/bin). */
  symlinks: Record<string, string>;
}

let layout: HostLayout | undefined;

/** What of the host to show, read once: it does not change while the agent runs. */
export function hostLayout(): HostLayout {
  if (layout !== undefined) return layout;
  const readOnlyDirs: string[] = [];
  const symlinks: Record<string, string> = {};
  for (const dir of SYSTEM_DIRS) {
    const st = lstatSync(dir, { throwIfNoEntry: false });
    if (st === undefined) continue;
    if (st.isSymbolicLink()) symlinks[dir] = readlinkSync(dir);
    else if (st.isDirectory()) readOnlyDirs.push(dir);
  }
  const etcEntries = ETC_ENTRIES.map((e) => `/etc/${e}`).filter((p) => statSync(p, { throwIfNoEntry: false }) !== undefined);
  layout = { view: { readOnlyDirs, etcEntries }, symlinks };
  return layout;
}

const rootfsMade = new Map<string, Promise<string>>();

/**
 * <stateDir>/rootfs: an empty root with every mount point, shared by all of a
 * state dir's containers (read-only inside, and crun mounts onto it only in
 * each container's own mount namespace). Made once per process: creating it per
 * command cost 0.05-0.3 s of small file operations on a busy host. Idempotent,
 * so a rootfs left by an earlier run is completed, not replaced under a
 * container that may still use it.
 */
export function sharedRootfs(stateDir: string, host: HostLayout, extraMountPoints: readonly string[] = []): Promise<string> {
  const key = `${stateDir}\0${extraMountPoints.join('\0')}`;
  let made = rootfsMade.get(key);
  if (made === undefined) {
    made = makeRootfs(path.join(stateDir, 'rootfs'), host, extraMountPoints);
    rootfsMade.set(key, made);
    made.catch(() => rootfsMade.delete(key));
  }
  return made;
}

/** After a sweep removed the state dir: the next sandbox makes the rootfs again. */
export function forgetRootfs(stateDir: string): void {
  for (const key of [...rootfsMade.keys()]) if (key.startsWith(`${stateDir}\0`)) rootfsMade.delete(key);
}

async function makeRootfs(rootfs: string, host: HostLayout, extraMountPoints: readonly string[]): Promise<string> {
  // Search-only for others on the way down (crun sets up mounts as the namespace's root, an unprivileged host uid).
  await fs.mkdir(rootfs, { recursive: true, mode: 0o755 });
  await fs.chmod(path.dirname(rootfs), 0o711);
  for (const d of ['proc', 'dev', 'tmp', 'etc', APP_DIR.slice(1), CACHE_DIR.slice(1)]) await fs.mkdir(path.join(rootfs, d), { recursive: true, mode: 0o755 });
  for (const [link, target] of Object.entries(host.symlinks)) await fs.symlink(target, path.join(rootfs, link)).catch(ignoreExists);
  for (const d of [...host.view.readOnlyDirs, ...extraMountPoints]) await fs.mkdir(path.join(rootfs, d), { recursive: true });
  for (const entry of [...host.view.etcEntries, ...GENERATED_ETC.map((n) => `/etc/${n}`)]) {
    const target = path.join(rootfs, entry);
    if (statSync(entry, { throwIfNoEntry: false })?.isDirectory() === true) await fs.mkdir(target, { recursive: true });
    else await fs.writeFile(target, '', { flag: 'a' });
  }
  return rootfs;
}

function ignoreExists(err: NodeJS.ErrnoException): void {
  if (err.code !== 'EEXIST') throw err;
}

const GENERATED_ETC = ['passwd', 'group', 'hostname', 'hosts'] as const;

/**
 * <dir>/passwd, group, hostname and hosts, bound over the rootfs's /etc entries:
 * once per sandbox. Returns generated file (host path) → where it appears inside.
 */
export async function writeGeneratedEtc(dir: string, hostname: string): Promise<Record<string, string>> {
  await fs.mkdir(dir, { recursive: true, mode: 0o711 });
  const files: Record<(typeof GENERATED_ETC)[number], string> = {
    passwd: `root:x:0:0:root:/root:/usr/sbin/nologin\napp:x:${APP_ID_INSIDE}:${APP_ID_INSIDE}:app:${APP_DIR}:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n`,
    group: `root:x:0:\napp:x:${APP_ID_INSIDE}:\nnogroup:x:65534:\n`,
    hostname: `${hostname}\n`,
    hosts: `127.0.0.1\tlocalhost ${hostname}\n::1\tlocalhost ip6-localhost ip6-loopback\n`,
  };
  const generatedEtc: Record<string, string> = {};
  for (const name of GENERATED_ETC) {
    const file = path.join(dir, name);
    await fs.writeFile(file, files[name], { mode: 0o644 });
    generatedEtc[file] = `/etc/${name}`;
  }
  return generatedEtc;
}
