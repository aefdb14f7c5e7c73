// The OCI runtime config (config.json) of one sandboxed command, as pure data.
//
// Why an OCI runtime (crun) and not hand-written namespace code or bubblewrap:
// crun is maintained, takes the whole boundary as one declarative document (user
// namespace with uid/gid mappings onto an unprivileged host range, capabilities,
// no_new_privs, a seccomp profile as JSON that it compiles with libseccomp, the
// mounts of an own root), and the same runtime will run OCI images later.
// bubblewrap maps only the caller's own uid and wants a pre-compiled BPF program
// for seccomp. Cgroups stay Forge's (cgroup-v1.ts / cgroup-v2.ts): crun runs with
// its cgroup manager disabled inside the cgroup Forge created and limited.

import { APP_ID_INSIDE, IDENTITY_BLOCK, type SandboxIdentity } from './identity.ts';
import type { SeccompProfile } from './seccomp.ts';

/** Where the release dir appears inside: a path with no parents that module resolution or config discovery would read. */
export const APP_DIR = '/app';
/** Where a build's package caches (build-cache.ts) appear inside: writable, the service's own. */
export const CACHE_DIR = '/cache';

export interface HostView {
  /** Host directories bound read-only at the same path (/usr, and /bin… when they are real dirs). */
  readOnlyDirs: string[];
  /** Host files or dirs under /etc bound read-only (resolv.conf, ssl, …). */
  etcEntries: string[];
}

export interface OciInput {
  args: string[];
  env: Record<string, string>;
  hostname: string;
  identity: SandboxIdentity;
  /** Host path of the app's writable dir, mounted at APP_DIR. */
  appDir: string;
  /** Host path of the service's build cache, mounted writable at CACHE_DIR (builds only). */
  cacheDir?: string;
  /** Rootfs directory prepared by rootfs.ts (relative to the bundle or absolute). */
  rootfs: string;
  view: HostView;
  /** Bind mounts of files Forge generated (passwd, group, hosts…): host path → path inside. */
  generatedEtc: Record<string, string>;
  /** A network namespace to join (pre-made, connected by pasta); null: no own network namespace. */
  netnsPath: string | null;
  tmpSizeMb: number;
  seccomp: SeccompProfile;
  /** Test-only: switch single protections off to show that each one matters. */
  weaken?: Weaken;
  /** An image's root replaces the host's system dirs (agent/image/): its own files, user and cwd. */
  image?: ImageRoot;
}

/** The root and process of an OCI image instance (see agent/image/unpack.ts). */
export interface ImageRoot {
  /** Host path of the unpacked, writable root (owned by the service's identity block). */
  rootfs: string;
  uid: number;
  gid: number;
  additionalGids: number[];
  cwd: string;
}

export interface Weaken {
  /** No user namespace: the command runs as host root with a runtime's default capabilities. */
  identity?: boolean;
  /** No seccomp filter. */
  seccomp?: boolean;
  /** Host paths bound read-only at the same path inside (what an own root hides). */
  exposeHostPaths?: string[];
  /** No network namespace: the host's network, loopback included. */
  network?: boolean;
  /** No PID namespace: the host's /proc is bound in (a new proc mount needs an own PID namespace). */
  pidNamespace?: boolean;
  /** No cgroup namespace, and the host's cgroup hierarchy bound writable at /sys/fs/cgroup. */
  cgroupFiles?: boolean;
  /** No size-limited filesystem for the release dir (supervisor.ts): it lands on the host's. */
  disk?: boolean;
}

/** Where a weakened sandbox sees the host's cgroup hierarchy. */
export const HOST_CGROUP_DIR = '/sys/fs/cgroup';

/** Mount points a weakened config needs in the rootfs skeleton, beside exposeHostPaths. */
export function weakenedMountPoints(weaken: Weaken | undefined): string[] {
  return [...(weaken?.exposeHostPaths ?? []), ...(weaken?.cgroupFiles === true ? [HOST_CGROUP_DIR] : [])];
}

/** Test-only weakened identity: root with a container runtime's usual default capabilities. */
const ROOT_CAPS = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL', 'CAP_SETGID',
  'CAP_SETUID', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_NET_RAW', 'CAP_SYS_CHROOT', 'CAP_MKNOD', 'CAP_AUDIT_WRITE', 'CAP_SETFCAP',
];

const ro = ['rbind', 'ro', 'nosuid', 'nodev'];

export function ociConfig(input: OciInput): Record<string, unknown> {
  if (input.image !== undefined) return imageConfig(input, input.image);
  const weaken = input.weaken ?? {};
  const userns = weaken.identity !== true;
  const caps = userns ? [] : ROOT_CAPS;
  const ownPids = weaken.pidNamespace !== true;
  const mounts: Record<string, unknown>[] = [
    ownPids
      ? { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'nodev', 'noexec'] }
      : { destination: '/proc', type: 'bind', source: '/proc', options: ['rbind', 'nosuid', 'nodev', 'noexec'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=1m'] },
    { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620'] },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', `size=${input.tmpSizeMb}m`] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    ...input.view.readOnlyDirs.map((dir) => ({ destination: dir, type: 'bind', source: dir, options: ro })),
    ...input.view.etcEntries.map((entry) => ({ destination: entry, type: 'bind', source: entry, options: ro })),
    ...Object.entries(input.generatedEtc).map(([source, destination]) => ({ destination, type: 'bind', source, options: ro })),
    { destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=1777', `size=${input.tmpSizeMb}m`] },
    { destination: APP_DIR, type: 'bind', source: input.appDir, options: ['rbind', 'rw', 'nosuid', 'nodev'] },
    ...(input.cacheDir === undefined ? [] : [{ destination: CACHE_DIR, type: 'bind', source: input.cacheDir, options: ['rbind', 'rw', 'nosuid', 'nodev'] }]),
    ...(weaken.exposeHostPaths ?? []).map((p) => ({ destination: p, type: 'bind', source: p, options: ro })),
    ...(weaken.cgroupFiles === true ? [{ destination: HOST_CGROUP_DIR, type: 'bind', source: HOST_CGROUP_DIR, options: ['rbind', 'rw'] }] : []),
  ];
  const linux = linuxSection(input, userns);
  const id = userns ? APP_ID_INSIDE : 0;
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: { uid: id, gid: id, additionalGids: [] },
      args: input.args,
      env: Object.entries(input.env).map(([k, v]) => `${k}=${v}`),
      cwd: APP_DIR,
      capabilities: { bounding: caps, effective: caps, permitted: caps, inheritable: [], ambient: [] },
      noNewPrivileges: userns,
    },
    root: { path: input.rootfs, readonly: true },
    hostname: input.hostname,
    mounts,
    linux,
  };
}

/** Namespaces, id mappings, masked /proc paths and seccomp: the same for source and image instances. */
function linuxSection(input: OciInput, userns: boolean): Record<string, unknown> {
  const weaken = input.weaken ?? {};
  const namespaces: Record<string, string>[] = [{ type: 'ipc' }, { type: 'uts' }, { type: 'mount' }];
  if (weaken.pidNamespace !== true) namespaces.unshift({ type: 'pid' });
  if (weaken.cgroupFiles !== true) namespaces.push({ type: 'cgroup' });
  if (userns) namespaces.push({ type: 'user' });
  if (input.netnsPath !== null && weaken.network !== true) namespaces.push({ type: 'network', path: input.netnsPath });
  const mapping = [{ containerID: 0, hostID: input.identity.hostBase, size: IDENTITY_BLOCK }];
  const linux: Record<string, unknown> = {
    namespaces,
    rootfsPropagation: 'private',
    maskedPaths: [
      '/proc/acpi', '/proc/asound', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list',
      '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/proc/sysrq-trigger',
    ],
    readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys'],
  };
  if (userns) {
    linux.uidMappings = mapping;
    linux.gidMappings = mapping;
  }
  if (weaken.seccomp !== true) linux.seccomp = input.seccomp;
  return linux;
}

/**
 * An image instance: the image's own root (writable, on the instance's size-limited
 * filesystem) instead of the host's system dirs, the image's user and working dir,
 * and otherwise exactly the boundary of a source instance: user namespace onto the
 * service's block, no capabilities, no_new_privs, seccomp, own PID/mount/network
 * namespaces, private /tmp and /dev, no /sys. Only DNS settings come from the host.
 */
function imageConfig(input: OciInput, image: ImageRoot): Record<string, unknown> {
  const weaken = input.weaken ?? {};
  const userns = weaken.identity !== true;
  const caps = userns ? [] : ROOT_CAPS;
  const resolv = input.view.etcEntries.filter((e) => e === '/etc/resolv.conf');
  const mounts: Record<string, unknown>[] = [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'nodev', 'noexec'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=1m'] },
    { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620'] },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', `size=${input.tmpSizeMb}m`] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    ...resolv.map((entry) => ({ destination: entry, type: 'bind', source: entry, options: ro })),
    ...Object.entries(input.generatedEtc)
      .filter(([, destination]) => destination === '/etc/hosts' || destination === '/etc/hostname')
      .map(([source, destination]) => ({ destination, type: 'bind', source, options: ro })),
    { destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=1777', `size=${input.tmpSizeMb}m`] },
    ...(weaken.exposeHostPaths ?? []).map((p) => ({ destination: p, type: 'bind', source: p, options: ro })),
  ];
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      // (Switched-off identity, tests only: host root, as for source instances.)
      user: userns ? { uid: image.uid, gid: image.gid, additionalGids: image.additionalGids } : { uid: 0, gid: 0, additionalGids: [] },
      args: input.args,
      env: Object.entries(input.env).map(([k, v]) => `${k}=${v}`),
      cwd: image.cwd,
      capabilities: { bounding: caps, effective: caps, permitted: caps, inheritable: [], ambient: [] },
      noNewPrivileges: userns,
    },
    root: { path: image.rootfs, readonly: false },
    hostname: input.hostname,
    mounts,
    linux: linuxSection(input, userns),
  };
}
