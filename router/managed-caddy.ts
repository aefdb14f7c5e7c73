// A supervised `caddy run` for one-machine use (`forge server`, `forge dev`):
// admin API on loopback, a generated base config holding only our (empty)
// server, all of Caddy's state under the data dir. Routes are not in the file:
// the route reconcile puts them back after every (re)start.

import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, chmodSync, closeSync, constants, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { ForgeError } from '../errors/index.ts';
import { adminSocketPath } from './admin-address.ts';
import { CaddyClient } from './caddy-client.ts';
import { probeAdminAddress } from './caddy-probe.ts';
import { managedCaddyConfig, type ManagedCaddyConfigOptions } from './caddy-config.ts';
import { removeCaddyPid, stopStaleCaddy, writeCaddyPid } from './stale-caddy.ts';

export const CADDY_INSTALL_HINT =
  'caddy was not found on PATH; install it with `apt-get install caddy` (Forge keeps running, but no routes are served)';

/** Absolute path of the caddy binary on PATH, or null (then tell the user CADDY_INSTALL_HINT). */
export function findCaddy(env: NodeJS.ProcessEnv = process.env): string | null {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, 'caddy');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here; keep looking
    }
  }
  return null;
}

export type ManagedCaddyEvent =
  | { type: 'exited'; pid: number | undefined; code: number | null; signal: string | null; lastLines: string[] }
  | { type: 'restarting'; attempt: number; delayMs: number }
  | { type: 'restarted'; pid: number | undefined }
  | { type: 'gave-up'; attempts: number; lastLines: string[] }
  /** A caddy a crashed earlier run of Forge left on this data dir was ended before starting ours. */
  | { type: 'stopped-stale'; pid: number };

export interface ManagedCaddyOptions extends Omit<ManagedCaddyConfigOptions, 'server'> {
  server?: string;
  /** Binary to run; default findCaddy(). */
  caddyPath?: string;
  /** How long to wait for the admin API after spawning. Default 10 s. */
  startTimeoutMs?: number;
  /** SIGTERM grace before SIGKILL on stop. Default 5 s. */
  stopTimeoutMs?: number;
  /** Restarts allowed in a row (a process that stayed up for stableMs resets the count). Default 5. */
  maxRestarts?: number;
  /** First restart delay, doubled each attempt up to 5 s. Default 250 ms. */
  restartBackoffMs?: number;
  stableMs?: number;
  onEvent?: (event: ManagedCaddyEvent) => void;
}

export interface ManagedCaddy {
  readonly adminUrl: string;
  readonly configPath: string;
  readonly logPath: string;
  /** Pid of the current caddy process (undefined while it is down). */
  readonly pid: number | undefined;
  readonly restarts: number;
  /** Resolves when a restarted caddy answers on its admin API again (immediately when up). */
  ready(): Promise<void>;
  stop(): Promise<void>;
}

const TAIL_LINES = 20;

/** Where a managed caddy keeps its files under a data dir. */
export function managedCaddyPaths(dataDir: string): { dir: string; configPath: string; logPath: string; pidPath: string } {
  const dir = join(dataDir, 'caddy');
  return { dir, configPath: join(dir, 'caddy.json'), logPath: join(dir, 'caddy.log'), pidPath: join(dir, 'caddy.pid') };
}

export async function startManagedCaddy(options: ManagedCaddyOptions): Promise<ManagedCaddy> {
  const caddyPath = options.caddyPath ?? findCaddy();
  if (caddyPath === null) throw new ForgeError('E_PROVIDER', CADDY_INSTALL_HINT, { terminal: true });
  const server = options.server ?? 'forge';
  const { dir, configPath, logPath, pidPath } = managedCaddyPaths(options.dataDir);
  mkdirSync(dir, { recursive: true });
  writeFileSync(configPath, `${JSON.stringify(managedCaddyConfig({ ...options, server }), null, 2)}\n`);
  const socketPath = adminSocketPath(options.adminAddr);
  const adminUrl = socketPath === null ? `http://${options.adminAddr}` : options.adminAddr;
  const client = new CaddyClient({ admin: adminUrl, server, timeoutMs: 1000 });
  const stale = await stopStaleCaddy(pidPath, configPath, options.stopTimeoutMs ?? 5000);
  if (stale !== null) options.onEvent?.({ type: 'stopped-stale', pid: stale });
  if (socketPath !== null) {
    // Only root (Forge) may enter: the socket's own mode is caddy's umask, the dir's is ours.
    mkdirSync(dirname(socketPath), { recursive: true, mode: 0o700 });
    chmodSync(dirname(socketPath), 0o700);
    // A socket file a killed caddy left would make the bind fail; remove it when nothing answers there.
    if ((await probeAdminAddress(options.adminAddr)) === 'free') rmSync(socketPath, { force: true });
  }
  const sup = new Supervisor(caddyPath, configPath, dir, logPath, client, options, pidPath);
  await sup.startFirst();
  return {
    adminUrl,
    configPath,
    logPath,
    get pid() {
      return sup.child?.pid;
    },
    get restarts() {
      return sup.restarts;
    },
    ready: () => sup.ready(),
    stop: async () => {
      await sup.stop();
    },
  };
}

class Supervisor {
  child: ChildProcess | undefined;
  restarts = 0;
  private attempt = 0;
  private stopping = false;
  private startedAt = 0;
  private timer: NodeJS.Timeout | undefined;
  /** What Forge itself noted about a spawn (a missing binary), shown with caddy's last log lines. */
  private notes: string[] = [];
  private readyPromise: Promise<void> = Promise.resolve();
  /** Settles a pending ready() when stop() cancels a scheduled restart. */
  private cancelPendingReady: (() => void) | undefined;
  /** Resolves when a given child has ended (exited, or failed to spawn). */
  private readonly ended = new WeakMap<ChildProcess, Promise<void>>();

  constructor(
    private readonly caddyPath: string,
    private readonly configPath: string,
    private readonly dir: string,
    private readonly logPath: string,
    private readonly client: CaddyClient,
    private readonly options: ManagedCaddyOptions,
    private readonly pidPath: string,
  ) {}

  async startFirst(): Promise<void> {
    const child = this.spawnCaddy();
    try {
      await this.waitForAdmin(child);
    } catch (err) {
      this.stopping = true;
      await killAndWait(child, this.options.stopTimeoutMs ?? 5000);
      throw err;
    }
  }

  ready(): Promise<void> {
    return this.readyPromise;
  }

  /** Caddy's last log lines (read from the end of its log file) and Forge's own notes. */
  private tail(): string[] {
    let lines: string[] = [];
    try {
      const text = readFileSync(this.logPath, 'utf8');
      lines = text.slice(-16_384).split('\n').filter((line) => line.trim() !== '').slice(-TAIL_LINES);
    } catch {
      // no log to show
    }
    return [...lines, ...this.notes].slice(-TAIL_LINES);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearTimeout(this.timer);
    this.cancelPendingReady?.();
    if (this.child) await killAndWait(this.child, this.options.stopTimeoutMs ?? 5000);
    removeCaddyPid(this.pidPath);
  }

  private spawnCaddy(): ChildProcess {
    // Caddy writes its log straight into the file, not through a pipe to Forge: a Forge that is
    // SIGKILLed would leave that pipe without a reader, and caddy dies of SIGPIPE on its next log
    // line (an admin request, a failed dial): the data plane must outlive the control plane.
    let out: number | 'ignore' = 'ignore';
    try {
      out = openSync(this.logPath, 'a');
    } catch {
      // A log file that cannot be opened (disk full, dir removed) must not stop caddy.
    }
    const child = spawn(this.caddyPath, ['run', '--config', this.configPath], {
      // Keep Caddy's autosave, locks and certificates out of $HOME.
      env: { ...process.env, XDG_DATA_HOME: join(this.dir, 'data'), XDG_CONFIG_HOME: join(this.dir, 'config') },
      stdio: ['ignore', out, out],
    });
    if (typeof out === 'number') closeSync(out);
    this.child = child;
    writeCaddyPid(this.pidPath, child.pid);
    this.startedAt = Date.now();
    // A failed spawn (binary gone) emits 'error' and maybe no 'exit': treat both as one end.
    let markEnded!: () => void;
    this.ended.set(child, new Promise<void>((resolve) => (markEnded = resolve)));
    let ended = false;
    const end = (code: number | null, signal: NodeJS.Signals | null): void => {
      if (ended) return;
      ended = true;
      markEnded();
      this.onExit(child, code, signal);
    };
    child.on('error', (err) => {
      this.notes.push(`spawn ${this.caddyPath}: ${err.message}`);
      if (child.pid === undefined) end(null, null);
    });
    child.on('exit', (code, signal) => end(code, signal));
    return child;
  }

  private onExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.child === child) this.child = undefined;
    if (this.stopping) return;
    const lastLines = this.tail().slice(-5);
    this.options.onEvent?.({ type: 'exited', pid: child.pid, code, signal, lastLines });
    if (Date.now() - this.startedAt >= (this.options.stableMs ?? 30_000)) this.attempt = 0;
    if (this.attempt >= (this.options.maxRestarts ?? 5)) {
      this.options.onEvent?.({ type: 'gave-up', attempts: this.attempt, lastLines });
      this.readyPromise = Promise.reject(
        new ForgeError('E_PROVIDER', `managed caddy keeps exiting (${this.attempt} restarts); last output: ${lastLines.join(' | ')}`),
      );
      this.readyPromise.catch(() => {});
      return;
    }
    const delayMs = Math.min((this.options.restartBackoffMs ?? 250) * 2 ** this.attempt, 5000);
    this.attempt += 1;
    this.options.onEvent?.({ type: 'restarting', attempt: this.attempt, delayMs });
    this.readyPromise = new Promise<void>((resolve, reject) => {
      this.cancelPendingReady = resolve;
      this.timer = setTimeout(() => {
        if (this.stopping) return resolve();
        this.restarts += 1;
        const next = this.spawnCaddy();
        this.waitForAdmin(next).then(() => {
          this.options.onEvent?.({ type: 'restarted', pid: next.pid });
          resolve();
        }, reject);
      }, delayMs);
    });
    this.readyPromise.catch(() => {});
  }

  /** Polls the admin API until it answers, the process exits, or the start timeout passes. */
  private async waitForAdmin(child: ChildProcess): Promise<void> {
    // Let a failed spawn report itself first, so its reason lands in the error.
    await new Promise<void>((resolve) => {
      child.once('spawn', () => resolve());
      child.once('error', () => resolve());
    });
    const deadline = Date.now() + (this.options.startTimeoutMs ?? 10_000);
    let exited = child.exitCode !== null || child.signalCode !== null || child.pid === undefined;
    void this.ended.get(child)?.then(() => {
      exited = true;
    });
    for (;;) {
      if (exited) {
        throw new ForgeError('E_PROVIDER', `caddy exited (code ${child.exitCode ?? child.signalCode}) before its admin API answered at ${this.client.admin}: ${this.tail().slice(-5).join(' | ')}`);
      }
      try {
        await this.client.ping();
        return;
      } catch {
        if (Date.now() >= deadline) {
          throw new ForgeError('E_TIMEOUT', `caddy admin API did not answer at ${this.client.admin} within ${this.options.startTimeoutMs ?? 10_000} ms`);
        }
        await sleep(50);
      }
    }
  }
}

/** SIGTERM this child (by its pid), then SIGKILL after the timeout; resolves once it has exited. */
async function killAndWait(child: ChildProcess, timeoutMs: number): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(true), timeoutMs);
  });
  const late = await Promise.race([exited.then(() => false), timedOut]);
  clearTimeout(timer);
  if (late) {
    child.kill('SIGKILL');
    await exited;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
