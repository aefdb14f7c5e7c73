// One sandbox per build or app instance: a cgroup with memory, cpu and pids
// limits, and each command run by crun in its own user, mount, PID, IPC, UTS,
// cgroup and network namespaces with an own root (see oci-config.ts for what it
// holds and why crun). Production fails closed when any piece is missing and
// names it; development runs with what there is and says so once in `warning`
// (without crun it falls back to `unshare` namespaces, without cgroups to none).

import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import type { Duplex } from 'node:stream';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { ForgeError } from '../../errors/index.ts';
import { clearStale, exists, removeDir, signalPids, type CgroupCounters, type CgroupHandle } from './cgroup-common.ts';
import { createCgroupV1 } from './cgroup-v1.ts';
import { createCgroupV2 } from './cgroup-v2.ts';
import { DEFAULT_CGROUP_PARENT, detectIsolation, isolationComplete, type IsolationInfo } from './detect.ts';
import { classifyExit, isForkFailureLine, type ExitInfo } from './exit.ts';
import { containerArgv, containerProcessArgs, sandboxArgv } from './namespaces.ts';
import { answerGate, START_GATE_FD } from './start-gate.ts';
import { safeCgroupName } from './paths.ts';
import { identityForSlot, type SandboxIdentity } from './identity.ts';
import { createNetwork, PortTakenError, sweepNamespaces, tableListens, type SandboxNetwork } from './network.ts';
export { forwardedAddress, PortTakenError } from './network.ts';
import { APP_DIR, CACHE_DIR, ociConfig, weakenedMountPoints, type ImageRoot, type Weaken } from './oci-config.ts';
import { forgetRootfs, hostLayout, sharedRootfs, writeGeneratedEtc } from './rootfs.ts';
import { seccompProfile } from './seccomp.ts';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

export type { IsolationInfo } from './detect.ts';
export type { ExitInfo, ExitReason } from './exit.ts';
export type { CgroupCounters } from './cgroup-common.ts';
export { detectIsolation, isolationComplete } from './detect.ts';
export { classifyExit } from './exit.ts';
export type { SandboxIdentity } from './identity.ts';
export type { ImageRoot, Weaken } from './oci-config.ts';
export { APP_DIR, CACHE_DIR } from './oci-config.ts';

/** Where bundles, crun's state and pasta's pid files live (per cgroup root): root-only, on tmpfs where /run is. */
export function defaultStateDir(root: string = DEFAULT_CGROUP_PARENT): string {
  return path.join('/run/forge', root);
}

/** Network namespaces of one cgroup root's sandboxes are /run/netns/<root>.<name>, so a sweep finds only its own. */
function netnsName(root: string, name: string): string {
  return `${root}.${name}`.slice(0, 200);
}

export type ForgeMode = 'production' | 'development';

export interface SandboxOptions {
  /** Build or instance id; names the cgroup <hierarchy>/<root>/<id>. */
  id: string;
  memoryMb: number;
  cpus: number;
  pidsMax: number;
  mode: ForgeMode;
  /** Forge-owned parent cgroup name (default 'forge'). */
  root?: string;
  /** 'off' behaves as if the host had no isolation (tests); default follows FORGE_ISOLATION. */
  isolation?: 'auto' | 'off';
  env?: NodeJS.ProcessEnv;
  /** Host dir mounted writable at /app (the release dir); default: the cwd of each spawn. */
  workDir?: string;
  /**
   * Host dir of the service's build cache, mounted writable at /cache under crun;
   * env values naming paths under it are rewritten to /cache (without crun they stay host paths).
   */
  cacheDir?: string;
  /** The service's host identity (identity.ts); default: slot 0, kept for sandboxes of no service. */
  identity?: SandboxIdentity;
  /** The app's port (forwarded from bindHost) and whether it may connect out. Default: no port, egress on. */
  network?: { port?: number; bindHost: string; egress: boolean };
  /** Default defaultStateDir(root). */
  stateDir?: string;
  /** Hostname inside (the service name); default 'app'. */
  hostname?: string;
  /** Test-only: switch single protections off (test/security shows each one matters). */
  weaken?: Weaken;
  /**
   * A network namespace made by createReleaseNetwork and owned by the caller: a
   * release's build and app share one (pasta takes ~0.1 s to come up and go), so
   * `network` is ignored and destroy() leaves it alone.
   */
  sharedNetwork?: SandboxNetwork | null;
  /** An image instance (agent/image/): its root replaces the host's system dirs; needs crun. */
  image?: ImageRoot;
}

export interface SpawnOptions {
  cwd: string;
  /** The complete environment of the command; nothing is inherited from the agent. */
  env: Record<string, string>;
  /** Recent output, searched for fork failures on hosts without pids.events. */
  recentLines?: () => readonly string[];
  /** The exact argv to run (an image's entrypoint + cmd) instead of `command` through /bin/sh. */
  argv?: string[];
}

export interface SandboxedProcess {
  pid: number;
  child: ChildProcess;
  /** Resolves once the command ended and its exit was classified. Never rejects. */
  exited: Promise<ExitInfo>;
}

export interface Sandbox {
  id: string;
  /** Cgroup limits, the container boundary and the own network namespace are all in force. */
  confined: boolean;
  /** Commands run by crun with an own root (paths inside differ from the host's). */
  contained: boolean;
  isolation: IsolationInfo;
  /** Set once, when the sandbox runs with less isolation than production demands. */
  warning: string | null;
  cgroupDirs: string[];
  spawn(command: string, options: SpawnOptions): Promise<SandboxedProcess>;
  /** Host pids of everything inside (the spawned commands' own pids when there is no cgroup). */
  pids(): Promise<number[]>;
  counters(): Promise<CgroupCounters | null>;
  /**
   * Whether something inside listens on port. In an own network namespace the
   * host side (pasta) accepts before the app listens, so only this tells; null
   * when the sandbox shares the host's network (ask the port itself then).
   */
  listening(port: number): Promise<boolean | null>;
  /** SIGTERM everything, wait up to graceMs, SIGKILL the rest, remove the cgroup. Idempotent. */
  destroy(graceMs?: number): Promise<void>;
}

const NO_COUNTERS: CgroupCounters = { oomKills: 0, pidsMaxHits: 0, memoryBytes: 0, pids: 0 };

export async function createSandbox(options: SandboxOptions): Promise<Sandbox> {
  const env = options.isolation === 'off' ? { ...options.env, FORGE_ISOLATION: 'off' } : (options.env ?? process.env);
  const root = options.root ?? DEFAULT_CGROUP_PARENT;
  const isolation = await detectIsolation({ env, root });
  const complete = isolationComplete(isolation);
  if (!complete && options.mode === 'production') {
    throw new ForgeError(
      'E_ISOLATION_UNAVAILABLE',
      `refusing to run ${options.id} without isolation in production mode: ${isolation.reason}`,
      { details: { cgroup: isolation.cgroup, namespaces: isolation.namespaces, missing: isolation.missing } },
    );
  }
  // A gated sandbox's cgroup starts without its CPU limit: each command's start gate puts it in force (LiveSandbox.openGate).
  const gated = startsGated(isolation, options);
  const limits = { memoryMb: options.memoryMb, cpus: gated ? 0 : options.cpus, pidsMax: options.pidsMax };
  const name = safeCgroupName(options.id);
  const warning = complete
    ? null
    : `running ${options.id} with reduced isolation (development mode): ${isolation.reason}`;
  // The network (pasta takes ~0.1 s to come up) and the cgroup are made side by side.
  const wantsNetwork = isolation.container && isolation.network && options.weaken?.network !== true;
  const shared = wantsNetwork && options.sharedNetwork ? options.sharedNetwork : null;
  const networkMade = wantsNetwork && shared === null
    ? createNetwork({
        name: netnsName(root, name),
        stateDir: path.join(options.stateDir ?? defaultStateDir(root), 'net'),
        bindHost: options.network?.bindHost ?? '127.0.0.1',
        egress: options.network?.egress ?? true,
        ...(options.network?.port === undefined ? {} : { port: options.network.port }),
      })
    : Promise.resolve(null);
  const cgroupMade = isolation.cgroup === 'v2' && isolation.v2Mount !== undefined
    ? createCgroupV2(isolation.v2Mount, root, name, limits)
    : isolation.cgroup === 'v1' && isolation.v1Bases !== undefined
      ? createCgroupV1(isolation.v1Bases, root, name, limits)
      : Promise.resolve(null);
  const [net, cg] = await Promise.allSettled([networkMade, cgroupMade]);
  const network: SandboxNetwork | null = shared ?? (net.status === 'fulfilled' ? net.value : null);
  const cgroup: CgroupHandle | null = cg.status === 'fulfilled' ? cg.value : null;
  if (cg.status === 'rejected') {
    await network?.destroy().catch(() => undefined);
    throw cg.reason;
  }
  if (net.status === 'rejected') {
    await cgroup?.remove().catch(() => undefined);
    if (net.reason instanceof PortTakenError) throw net.reason;
    throw new ForgeError('E_ISOLATION_UNAVAILABLE', `${options.id}: ${(net.reason as Error).message}`);
  }
  return new LiveSandbox(options, isolation, cgroup, network, shared === null, warning, gated && cgroup !== null);
}

/**
 * Whether commands pass the start gate (namespaces.ts): crun, with a shell of the host's
 * as the container's init (an image's root may have none), and a CPU limit to hold back.
 */
function startsGated(isolation: IsolationInfo, options: SandboxOptions): boolean {
  return isolation.container && isolation.controllers.includes('cpu') && options.image === undefined && options.cpus > 0;
}

export type { SandboxNetwork } from './network.ts';

/**
 * The network namespace of one release, for its build and then its app
 * (SandboxOptions.sharedNetwork), with `port` forwarded; null when sandboxes
 * here get no own network namespace (then each uses the host's). The caller
 * destroys it. Throws PortTakenError when the port is bound on the host.
 */
export async function createReleaseNetwork(options: {
  id: string;
  port: number;
  bindHost: string;
  root?: string;
  isolation?: 'auto' | 'off';
  env?: NodeJS.ProcessEnv;
  stateDir?: string;
  weaken?: Weaken;
}): Promise<SandboxNetwork | null> {
  const env = options.isolation === 'off' ? { ...options.env, FORGE_ISOLATION: 'off' } : (options.env ?? process.env);
  const root = options.root ?? DEFAULT_CGROUP_PARENT;
  const isolation = await detectIsolation({ env, root });
  if (!isolation.container || !isolation.network || options.weaken?.network === true) return null;
  return createNetwork({
    name: netnsName(root, safeCgroupName(options.id)),
    stateDir: path.join(options.stateDir ?? defaultStateDir(root), 'net'),
    bindHost: options.bindHost,
    egress: true,
    port: options.port,
  });
}

const run = promisify(execFile);

class LiveSandbox implements Sandbox {
  readonly id: string;
  readonly confined: boolean;
  readonly contained: boolean;
  private spawned = 0;
  private readonly containers: string[] = [];
  private readonly live = new Map<number, { child: ChildProcess; exited: Promise<ExitInfo>; stopRequested: boolean }>();
  private destroying: Promise<void> | null = null;

  constructor(
    private readonly options: SandboxOptions,
    readonly isolation: IsolationInfo,
    private readonly cgroup: CgroupHandle | null,
    private readonly network: SandboxNetwork | null,
    private readonly ownsNetwork: boolean,
    readonly warning: string | null,
    /** Commands pass the start gate: the CPU limit goes in force between crun's set-up and the command. */
    private readonly gated: boolean,
  ) {
    this.id = options.id;
    this.contained = isolation.container;
    this.confined = isolationComplete(isolation) && cgroup !== null && network !== null;
  }

  private get stateDir(): string {
    return this.options.stateDir ?? defaultStateDir(this.options.root);
  }

  /** Writes the bundle of one command; returns the argv that runs it through crun. */
  private generatedEtc: Promise<Record<string, string>> | null = null;

  private async containerLaunch(command: string, options: SpawnOptions): Promise<[string, string[]]> {
    this.spawned += 1;
    const containerId = `${safeCgroupName(this.id)}-${this.spawned}`;
    const bundlesDir = path.join(this.stateDir, 'bundles');
    const bundleDir = path.join(bundlesDir, containerId);
    const host = hostLayout();
    const hostname = this.options.hostname ?? 'app';
    const image = this.options.image === undefined ? undefined : { ...this.options.image, rootfs: await this.imageRoot(this.options.image.rootfs) };
    const rootfs = image !== undefined ? image.rootfs : await sharedRootfs(this.stateDir, host, weakenedMountPoints(this.options.weaken));
    // Search-only for others: crun's setup runs as an unprivileged host uid and must reach the etc files.
    this.generatedEtc ??= fs.mkdir(bundlesDir, { recursive: true, mode: 0o711 })
      .then(() => fs.chmod(bundlesDir, 0o711))
      .then(() => writeGeneratedEtc(path.join(bundlesDir, `${safeCgroupName(this.id)}.etc`), hostname));
    const generatedEtc = await this.generatedEtc;
    await fs.rm(bundleDir, { recursive: true, force: true });
    await fs.mkdir(bundleDir, { mode: 0o711 });
    const config = ociConfig({
      args: options.argv ?? containerProcessArgs(command, this.gated),
      // An image's env is its own (its PATH names its dirs); a source app's is translated to what it sees.
      env: image !== undefined ? options.env : insideEnv(options.env, this.options.workDir ?? options.cwd, this.options.cacheDir),
      hostname,
      identity: this.options.identity ?? identityForSlot(0),
      appDir: this.options.workDir ?? options.cwd,
      ...(this.options.cacheDir === undefined ? {} : { cacheDir: this.options.cacheDir }),
      rootfs,
      view: host.view,
      generatedEtc,
      netnsPath: this.network?.nsPath ?? null,
      tmpSizeMb: Math.max(16, Math.min(this.options.memoryMb, 1024)),
      seccomp: seccompProfile(),
      ...(this.options.weaken ? { weaken: this.options.weaken } : {}),
      ...(image !== undefined ? { image } : {}),
    });
    // Root-only: the app's env (secrets included) is in here, never in any argv.
    await fs.writeFile(path.join(bundleDir, 'config.json'), JSON.stringify(config), { mode: 0o600 });
    this.containers.push(containerId);
    return containerArgv(this.cgroup?.procsFiles ?? [], {
      stateRoot: path.join(this.stateDir, 'crun'),
      bundle: bundleDir,
      containerId,
      hideUnified: this.isolation.hideUnified,
      gated: this.gated,
    });
  }

  private imageRootMade: Promise<string> | null = null;

  /**
   * An image's root is bound under the state dir (search-only for others, like the shared
   * rootfs): crun sets the root up as the namespace's unprivileged root, which cannot pass
   * through the agent's root-only data dir where the root was unpacked.
   */
  private imageRoot(unpacked: string): Promise<string> {
    this.imageRootMade ??= (async () => {
      const roots = path.join(this.stateDir, 'roots');
      await fs.mkdir(roots, { recursive: true, mode: 0o711 });
      await fs.chmod(this.stateDir, 0o711).catch(() => undefined);
      const at = path.join(roots, safeCgroupName(this.id));
      await run('umount', ['-l', at]).catch(() => undefined);
      await fs.mkdir(at, { recursive: true, mode: 0o755 });
      await run('mount', ['--bind', unpacked, at], { timeout: 10_000 });
      return at;
    })();
    return this.imageRootMade;
  }

  get cgroupDirs(): string[] {
    return this.cgroup === null ? [] : [...this.cgroup.dirs];
  }

  async spawn(command: string, options: SpawnOptions): Promise<SandboxedProcess> {
    if (this.destroying !== null) throw new ForgeError('E_INTERNAL', `sandbox ${this.id} is being destroyed`);
    if (this.options.image !== undefined && !this.contained) {
      throw new ForgeError('E_ISOLATION_UNAVAILABLE', `${this.id}: images run only under crun (apt-get install crun): ${this.isolation.reason}`);
    }
    const before = await this.counters();
    if (this.gated && this.cpuInForce && this.live.size === 0 && (await this.pids()).length === 0) {
      // Nothing runs here (a build's previous step ended): crun's set-up of this one goes unthrottled too.
      await this.cgroup!.setCpus(0);
      this.cpuInForce = false;
    }
    const [file, args] = this.contained
      ? await this.containerLaunch(command, options)
      : sandboxArgv(this.cgroup?.procsFiles ?? [], command, this.isolation.namespaces);
    // crun gets only a PATH: the app's env is in its config.json.
    const env = this.contained ? { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } : options.env;
    // detached: its own process group, so unconfined runs can still be killed as a group.
    const stdio: StdioOptions = this.gated ? ['ignore', 'pipe', 'pipe', 'pipe'] : ['ignore', 'pipe', 'pipe'];
    const child = spawn(file, args, { cwd: options.cwd, env, stdio, detached: true });
    if (this.gated) this.openGate(child);
    const entry = { child, stopRequested: false, exited: Promise.resolve(null as unknown as ExitInfo) };
    entry.exited = this.watchExit(child, before ?? NO_COUNTERS, options, () => entry.stopRequested);
    const pid = child.pid;
    if (pid === undefined) {
      // spawn failed (ENOENT, EMFILE): 'error' fires and watchExit resolves.
      return { pid: -1, child, exited: entry.exited };
    }
    this.live.set(pid, entry);
    void entry.exited.then(() => this.live.delete(pid));
    return { pid, child, exited: entry.exited };
  }

  private cpuInForce = false;

  /** The start gate (start-gate.ts): the CPU limit goes in force before the command's first instruction. */
  private openGate(child: ChildProcess): void {
    const gate = child.stdio[START_GATE_FD] as Duplex | null | undefined;
    if (!gate) return;
    answerGate(gate, async () => {
      await this.cgroup!.setCpus(this.options.cpus);
      this.cpuInForce = true;
    });
    child.once('exit', () => gate.destroy());
  }

  private async watchExit(
    child: ChildProcess,
    before: CgroupCounters,
    options: SpawnOptions,
    stopRequested: () => boolean,
  ): Promise<ExitInfo> {
    const ended = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>((resolve) => {
      child.once('error', (error) => resolve({ code: 127, signal: null, error }));
      child.once('exit', (code, signal) => resolve({ code, signal }));
    });
    if (ended.error !== undefined) {
      return { reason: 'exited', code: 127, signal: null, message: `could not start: ${ended.error.message}` };
    }
    // Let the last output drain (bounded: an unconfined grandchild may hold the pipe open).
    if (child.stdout !== null && !child.stdout.readableEnded) {
      await Promise.race([once(child, 'close').catch(() => undefined), sleep(250)]);
    }
    const after = (await this.counters()) ?? NO_COUNTERS;
    const pidsLimited = this.cgroup !== null && this.isolation.controllers.includes('pids');
    return classifyExit({
      code: ended.code,
      signal: ended.signal,
      oomKills: after.oomKills - before.oomKills,
      pidsMaxHits: after.pidsMaxHits - before.pidsMaxHits,
      forkFailureSeen: pidsLimited && (options.recentLines?.() ?? []).some(isForkFailureLine),
      stopRequested: stopRequested(),
      codeMaySignal: true, // a shell always sits between us and the app
      memoryMb: this.cgroup === null ? null : this.options.memoryMb,
      pidsMax: pidsLimited ? this.options.pidsMax : null,
    });
  }

  async pids(): Promise<number[]> {
    if (this.cgroup !== null) return this.cgroup.pids();
    return [...this.live.keys()];
  }

  counters(): Promise<CgroupCounters | null> {
    return this.cgroup === null ? Promise.resolve(null) : this.cgroup.counters();
  }

  async listening(port: number): Promise<boolean | null> {
    if (this.network === null) return null;
    // A process in the namespace shows its sockets; crun and its helpers sit in the host's
    // namespace (whose table holds pasta's own listener on the port), so match by inode.
    const ns = await fs.stat(this.network.nsPath).catch(() => null);
    if (ns === null) return false;
    for (const pid of await this.pids()) {
      const own = await fs.stat(`/proc/${pid}/ns/net`).catch(() => null);
      if (own === null || own.ino !== ns.ino || own.dev !== ns.dev) continue;
      const tables = await Promise.all(
        ['tcp', 'tcp6'].map((t) => fs.readFile(`/proc/${pid}/net/${t}`, 'utf8').catch(() => null)),
      );
      if (tables.every((t) => t === null)) continue;
      return tables.some((t) => t !== null && tableListens(t, port));
    }
    return false;
  }

  destroy(graceMs = 5_000): Promise<void> {
    this.destroying ??= this.teardown(graceMs);
    return this.destroying;
  }

  private async teardown(graceMs: number): Promise<void> {
    for (const entry of this.live.values()) entry.stopRequested = true;
    await this.signalAll('SIGTERM');
    const deadline = Date.now() + graceMs;
    while (Date.now() < deadline && !(await this.empty())) await sleep(50);
    if (this.cgroup !== null) await this.cgroup.killAll();
    for (const pid of this.live.keys()) killGroup(pid, 'SIGKILL');
    await Promise.all([...this.live.values()].map((e) => e.exited));
    if (this.cgroup !== null) await this.cgroup.remove();
    for (const containerId of this.containers) {
      // crun run removes its state when it exits by itself, not when it was killed with the rest:
      // only then is `crun delete` needed (a process start saved on every build step).
      const crunRoot = path.join(this.stateDir, 'crun');
      if (await exists(path.join(crunRoot, containerId))) {
        await run('crun', ['--root', crunRoot, 'delete', '--force', containerId], { timeout: 10_000 }).catch(() => undefined);
      }
      await fs.rm(path.join(this.stateDir, 'bundles', containerId), { recursive: true, force: true });
    }
    if (this.imageRootMade !== null) await unbindImageRoot(await this.imageRootMade.catch(() => null));
    if (this.generatedEtc !== null) await fs.rm(path.join(this.stateDir, 'bundles', `${safeCgroupName(this.id)}.etc`), { recursive: true, force: true });
    if (this.network !== null && this.ownsNetwork) await this.network.destroy();
  }

  private async empty(): Promise<boolean> {
    if (this.live.size > 0) return false;
    return this.cgroup === null || (await this.cgroup.pids()).length === 0;
  }

  private async signalAll(signal: NodeJS.Signals): Promise<void> {
    if (this.cgroup === null) {
      for (const pid of this.live.keys()) killGroup(pid, signal);
      return;
    }
    // With namespaces, our direct child is `unshare`, which would die on SIGTERM
    // and lose the app's exit status; it exits by itself once the app has.
    const spared = this.isolation.namespaces ? new Set(this.live.keys()) : new Set<number>();
    signalPids((await this.cgroup.pids()).filter((p) => !spared.has(p)), signal);
  }
}

/** Unmounts an image root's bind and removes its (then empty) mount point; never follows into the image. */
async function unbindImageRoot(at: string | null): Promise<void> {
  if (at === null) return;
  await run('umount', ['-l', at], { timeout: 10_000 }).catch(() => undefined);
  await fs.rmdir(at).catch(() => undefined);
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // The group is gone.
  }
}

/**
 * Kills whatever is left in every leaf under the forge-owned parent and removes
 * the leaves and the parent. For agent start-up (orphans of a crashed agent) and tests.
 */
export async function sweepSandboxes(
  root: string = DEFAULT_CGROUP_PARENT,
  env: NodeJS.ProcessEnv = process.env,
  stateDir: string = defaultStateDir(root),
): Promise<void> {
  await sweepCgroups(root, env);
  // What crun and pasta left: container state, bundles, this root's network namespaces.
  const crunRoot = path.join(stateDir, 'crun');
  for (const id of await fs.readdir(crunRoot).catch(() => [] as string[])) {
    await run('crun', ['--root', crunRoot, 'delete', '--force', id], { timeout: 10_000 }).catch(() => undefined);
  }
  await sweepNamespaces(netnsName(root, ''));
  // Image roots bound here: unbound first, or removing the state dir would empty the image roots.
  for (const name of await fs.readdir(path.join(stateDir, 'roots')).catch(() => [] as string[])) {
    await unbindImageRoot(path.join(stateDir, 'roots', name));
  }
  // Nothing of this root runs any more: its bundles, pasta files and rootfs skeleton go too.
  forgetRootfs(stateDir);
  await fs.rm(stateDir, { recursive: true, force: true });
}

async function sweepCgroups(root: string, env: NodeJS.ProcessEnv): Promise<void> {
  const isolation = await detectIsolation({ env, root });
  const parents =
    isolation.cgroup === 'v2' && isolation.v2Mount !== undefined
      ? [path.join(isolation.v2Mount, root)]
      : Object.values(isolation.v1Bases ?? {}).map((base) => path.join(base, root));
  for (const parent of new Set(parents)) {
    const entries = await fs.readdir(parent, { withFileTypes: true }).catch(() => []);
    for (const entry of entries) if (entry.isDirectory()) await clearStale(path.join(parent, entry.name));
    await removeDir(parent).catch(() => undefined);
  }
}

/** Visible PATH entries only, and HOME/paths under the host's work dir (cache dir) rewritten to /app (/cache). */
export function insideEnv(env: Record<string, string>, hostWorkDir: string, hostCacheDir?: string): Record<string, string> {
  const out: Record<string, string> = {};
  const moves: Array<[string, string]> = [[path.resolve(hostWorkDir), APP_DIR]];
  if (hostCacheDir !== undefined) moves.push([path.resolve(hostCacheDir), CACHE_DIR]);
  for (const [key, value] of Object.entries(env)) {
    const move = moves.find(([hostDir]) => value === hostDir || value.startsWith(`${hostDir}/`));
    out[key] = move ? move[1] + value.slice(move[0].length) : value;
  }
  const visible = (entry: string) => /^\/(usr|bin|sbin)(\/|$)/.test(entry) || entry === APP_DIR || entry.startsWith(`${APP_DIR}/`);
  const pathEntries = (out.PATH ?? '').split(':').filter(visible);
  out.PATH = pathEntries.length > 0 ? pathEntries.join(':') : '/usr/local/bin:/usr/bin:/bin';
  return out;
}
