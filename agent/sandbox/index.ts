// One sandbox per build or app instance: a cgroup with memory, cpu and pids
// limits plus fresh mount/PID/IPC/UTS namespaces. Production fails closed when
// isolation is missing; development runs unconfined and says so in `warning`.

import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { ForgeError } from '../../errors/index.ts';
import { clearStale, removeDir, signalPids, type CgroupCounters, type CgroupHandle } from './cgroup-common.ts';
import { createCgroupV1 } from './cgroup-v1.ts';
import { createCgroupV2 } from './cgroup-v2.ts';
import { DEFAULT_CGROUP_PARENT, detectIsolation, isolationComplete, type IsolationInfo } from './detect.ts';
import { classifyExit, isForkFailureLine, type ExitInfo } from './exit.ts';
import { sandboxArgv } from './namespaces.ts';
import { safeCgroupName } from './paths.ts';

export type { IsolationInfo } from './detect.ts';
export type { ExitInfo, ExitReason } from './exit.ts';
export type { CgroupCounters } from './cgroup-common.ts';
export { detectIsolation, isolationComplete } from './detect.ts';
export { classifyExit } from './exit.ts';

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
}

export interface SpawnOptions {
  cwd: string;
  /** The complete environment of the command; nothing is inherited from the agent. */
  env: Record<string, string>;
  /** Recent output, searched for fork failures on hosts without pids.events. */
  recentLines?: () => readonly string[];
}

export interface SandboxedProcess {
  pid: number;
  child: ChildProcess;
  /** Resolves once the command ended and its exit was classified. Never rejects. */
  exited: Promise<ExitInfo>;
}

export interface Sandbox {
  id: string;
  /** Both cgroup limits and namespaces are in force. */
  confined: boolean;
  isolation: IsolationInfo;
  /** Set once, when the sandbox runs with less isolation than production demands. */
  warning: string | null;
  cgroupDirs: string[];
  spawn(command: string, options: SpawnOptions): Promise<SandboxedProcess>;
  /** Host pids of everything inside (the spawned commands' own pids when there is no cgroup). */
  pids(): Promise<number[]>;
  counters(): Promise<CgroupCounters | null>;
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
      { details: { cgroup: isolation.cgroup, namespaces: isolation.namespaces } },
    );
  }
  const limits = { memoryMb: options.memoryMb, cpus: options.cpus, pidsMax: options.pidsMax };
  const name = safeCgroupName(options.id);
  let cgroup: CgroupHandle | null = null;
  if (isolation.cgroup === 'v2' && isolation.v2Mount !== undefined) {
    cgroup = await createCgroupV2(isolation.v2Mount, root, name, limits);
  } else if (isolation.cgroup === 'v1' && isolation.v1Bases !== undefined) {
    cgroup = await createCgroupV1(isolation.v1Bases, root, name, limits);
  }
  const warning = complete
    ? null
    : `running ${options.id} with reduced isolation (development mode): ${isolation.reason}`;
  return new LiveSandbox(options, isolation, cgroup, warning);
}

class LiveSandbox implements Sandbox {
  readonly id: string;
  readonly confined: boolean;
  private readonly live = new Map<number, { child: ChildProcess; exited: Promise<ExitInfo>; stopRequested: boolean }>();
  private destroying: Promise<void> | null = null;

  constructor(
    private readonly options: SandboxOptions,
    readonly isolation: IsolationInfo,
    private readonly cgroup: CgroupHandle | null,
    readonly warning: string | null,
  ) {
    this.id = options.id;
    this.confined = isolationComplete(isolation) && cgroup !== null;
  }

  get cgroupDirs(): string[] {
    return this.cgroup === null ? [] : [...this.cgroup.dirs];
  }

  async spawn(command: string, options: SpawnOptions): Promise<SandboxedProcess> {
    if (this.destroying !== null) throw new ForgeError('E_INTERNAL', `sandbox ${this.id} is being destroyed`);
    const before = await this.counters();
    const [file, args] = sandboxArgv(this.cgroup?.procsFiles ?? [], command, this.isolation.namespaces);
    // detached: its own process group, so unconfined runs can still be killed as a group.
    const child = spawn(file, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
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
export async function sweepSandboxes(root: string = DEFAULT_CGROUP_PARENT, env: NodeJS.ProcessEnv = process.env): Promise<void> {
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
