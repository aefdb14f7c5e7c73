// The agent's instances: a run task builds a release in its own work dir, starts
// it with a port from the pool, waits for health and then watches it; a stop task
// ends it. Exits that nobody asked for are recorded (code, OOM, reason, restarts in
// a row for the slot) and show up in the next heartbeat: the control plane decides
// what to do about them.

import { promises as fs } from 'node:fs';
import { constants } from 'node:os';
import path from 'node:path';
import { ForgeError, toForgeError } from '../errors/index.ts';
import type { ServiceSpec } from '../specs/types.ts';
import type { InstanceReport, ReportedState, ResultRequest, RunPayload, StopPayload } from '../providers/agent/protocol.ts';
import { prepareWorkDir, runBuild, type SandboxLimits } from './runner/build.ts';
import { sourceForRevision } from './runner/source-cache.ts';
import { monitorHealth, waitHealthy, type HealthMonitor } from './runner/health.ts';
import { canBind, type PortPool } from './runner/ports.ts';
import { startInstance, type InstanceHandle } from './runner/run.ts';
import type { ExitInfo, ForgeMode } from './sandbox/index.ts';
import { findRuntime, type AgentRuntime } from '../specs/runtimes.ts';

export interface SupervisorOptions {
  dataDir: string;
  ports: PortPool;
  /** Host put into reported addresses (where the control plane and router reach instances). */
  host: string;
  mode: ForgeMode;
  cgroupRoot: string;
  /** Language runtimes found at start: a build runs with its spec's runtime first on PATH. */
  runtimes?: readonly AgentRuntime[];
  isolation?: 'auto' | 'off';
  pidsMax?: number;
  buildPidsMax?: number;
  startTimeoutMs?: number;
  /** A slot that stayed healthy this long starts counting crashes from zero again. */
  restartResetMs?: number;
  now?: () => number;
  /** Something in a report changed: the daemon heartbeats soon. */
  onChange(): void;
  log(line: string): void;
}

interface InstanceRecord {
  id: string;
  spec: ServiceSpec;
  payload: RunPayload;
  state: ReportedState;
  health: InstanceReport['health'];
  port: number;
  exitCode?: number;
  oomKilled?: boolean;
  reason?: string;
  exitedAt?: number;
  restarts: number;
  healthySince?: number;
  handle?: InstanceHandle;
  monitor?: HealthMonitor;
  /** Set once a stop (or the agent's own shutdown) is under way: its exit is expected. */
  stopping: boolean;
  abort: AbortController;
}

export interface RunIo {
  secrets: Record<string, string>;
  onLine(line: string): void;
  /** Aborts when the task's lease is lost: the instance is torn down again. */
  signal: AbortSignal;
}

/** Starts of one instance on fresh ports when another process keeps taking its port. */
const PORT_ATTEMPTS = 3;

export function createSupervisor(options: SupervisorOptions) {
  const now = options.now ?? Date.now;
  const records = new Map<string, InstanceRecord>();
  const slots = new Map<string, number>();
  const restartResetMs = options.restartResetMs ?? 10 * 60_000;

  const limits = (spec: ServiceSpec, pidsMax: number): SandboxLimits => ({
    memoryMb: spec.resources.memoryMb, cpus: spec.resources.cpus, pidsMax, mode: options.mode, root: options.cgroupRoot,
    ...(options.isolation ? { isolation: options.isolation } : {}),
  });
  const instanceDir = (id: string) => path.join(options.dataDir, 'instances', id);

  function report(r: InstanceRecord): InstanceReport {
    const out: InstanceReport = {
      id: r.id, service: r.payload.spec.name, replica: r.payload.replica, generation: r.payload.generation,
      hash: r.payload.hash, region: r.spec.region, state: r.state, port: r.port,
      address: r.port === 0 ? '' : `${options.host}:${r.port}`, health: r.health, restarts: r.restarts,
      reserved: { cpus: r.spec.resources.cpus, memoryBytes: r.spec.resources.memoryMb * 1024 * 1024 },
    };
    if (r.exitCode !== undefined) out.exitCode = r.exitCode;
    if (r.oomKilled !== undefined) out.oomKilled = r.oomKilled;
    if (r.reason !== undefined) out.reason = r.reason;
    if (r.exitedAt !== undefined) out.exitedAt = r.exitedAt;
    return out;
  }

  /** Counts an unasked-for end of the slot's instance (a crash, a failed build or start). */
  function countCrash(r: InstanceRecord): void {
    const slot = `${r.payload.spec.name}/${r.payload.replica}`;
    const stable = r.healthySince !== undefined && now() - r.healthySince >= restartResetMs;
    const restarts = (stable ? 0 : (slots.get(slot) ?? 0)) + 1;
    slots.set(slot, restarts);
    r.restarts = restarts;
  }

  function markExited(r: InstanceRecord, reason: string, exit: ExitInfo | null): void {
    r.monitor?.stop();
    r.state = 'exited';
    r.health = 'unhealthy';
    r.reason = reason;
    r.exitedAt = now();
    if (exit) {
      r.exitCode = exitCodeOf(exit);
      r.oomKilled = exit.reason === 'oom';
    }
    if (r.port !== 0) options.ports.release(r.port);
    countCrash(r);
  }

  function failure(r: InstanceRecord, error: ForgeError, exit: ExitInfo | null, lastLines: string[] = []): ResultRequest {
    markExited(r, error.message, exit);
    options.onChange();
    return { ok: false, result: { code: error.code, message: error.message, lastLines: lastLines.slice(-50), instance: report(r) } };
  }

  function watch(r: InstanceRecord, handle: InstanceHandle): void {
    void handle.exited.then((exit) => {
      if (r.stopping || records.get(r.id) !== r || r.handle !== handle) return;
      r.handle = undefined;
      markExited(r, exit.message, exit);
      options.log(`instance ${r.id} (${r.payload.spec.name} replica ${r.payload.replica}) ${exit.message}`);
      options.onChange();
    });
  }

  async function teardown(r: InstanceRecord, graceMs: number): Promise<void> {
    r.stopping = true;
    r.abort.abort();
    r.monitor?.stop();
    const handle = r.handle;
    r.handle = undefined;
    if (handle) await handle.stop(graceMs);
    if (r.port !== 0) options.ports.release(r.port);
  }

  async function run(payload: RunPayload, io: RunIo): Promise<ResultRequest> {
    const existing = records.get(payload.instanceId);
    if (existing && !existing.stopping && (existing.state === 'running' || existing.state === 'unhealthy' || existing.state === 'starting')) {
      // A re-delivered task (lease renewal lost in transit): the instance is already ours.
      return { ok: existing.state !== 'starting', result: { message: 'already running', instance: report(existing) } };
    }
    if (existing) {
      await teardown(existing, 0);
      records.delete(existing.id);
    }
    const spec = payload.spec;
    const r: InstanceRecord = {
      id: payload.instanceId, spec, payload, state: 'starting', health: 'unknown', port: 0,
      restarts: slots.get(`${spec.name}/${payload.replica}`) ?? 0, stopping: false, abort: new AbortController(),
    };
    records.set(r.id, r);
    options.onChange();
    const signal = AbortSignal.any([io.signal, r.abort.signal]);
    const dir = instanceDir(r.id);
    try {
      if (spec.sourceDir === undefined || spec.run === undefined) {
        return failure(r, new ForgeError('E_BUILD_FAILED', `${spec.name}: agents run source-mode services (build + run.command); image mode is not supported`, { terminal: true }), null);
      }
      // Build from this revision's copy, not from whatever the folder holds now (a rollback, a late restart).
      const source = await sourceForRevision(path.join(options.dataDir, 'sources'), spec.sourceDir, spec.revision);
      const prepared = await prepareWorkDir(source, path.join(dir, 'app'), spec.sourceDir);
      io.onLine(`release ${payload.hash.slice(0, 12)} of ${spec.name}${prepared.commit ? ` at ${prepared.commit}` : ''}`);
      const runtime = spec.runtime === undefined ? undefined : findRuntime(spec.runtime, options.runtimes ?? []);
      if (spec.runtime !== undefined && !runtime) io.onLine(`runtime ${spec.runtime} was not found on this agent; building with the host's PATH`);
      const build = await runBuild({
        ...(runtime ? { pathFirst: path.dirname(runtime.path) } : {}),
        id: `build-${r.id}`, workDir: prepared.dir, commands: spec.build?.commands ?? [], env: spec.env, secrets: io.secrets,
        sandbox: limits(spec, options.buildPidsMax ?? 1024), logFile: path.join(dir, 'logs', 'build.log'),
        onLine: (line) => io.onLine(line), signal,
      });
      if (build.warning) options.log(build.warning);
      if (signal.aborted) return abandoned(r);
      if (!build.ok) return failure(r, build.error, build.exit, build.lastLines);

      let handle: InstanceHandle;
      let outcome: Awaited<ReturnType<typeof waitHealthy>>;
      for (let attempt = 1; ; attempt += 1) {
        r.port = await options.ports.allocate();
        handle = await startInstance({
          id: r.id, workDir: prepared.dir, command: spec.run.command, port: r.port, env: spec.env, secrets: io.secrets,
          sandbox: limits(spec, options.pidsMax ?? 512), logDir: path.join(dir, 'logs'),
        });
        r.handle = handle;
        outcome = await waitHealthy({
          port: r.port, health: spec.health, signal, exited: handle.exited, tail: () => handle.tail(20), pids: () => handle.sandbox.pids(),
          ...(options.startTimeoutMs === undefined ? {} : { startTimeoutMs: options.startTimeoutMs }),
        });
        if (signal.aborted || r.stopping) return abandoned(r);
        // The app died while another process holds its port (an outgoing connection took it
        // between our check and the app's listen): not the release's fault, so start it again
        // on another port rather than report E_HEALTH_FAILED, which marks the release bad.
        if (outcome.healthy || outcome.reason !== 'exited' || attempt >= PORT_ATTEMPTS || await canBind(r.port, '0.0.0.0')) break;
        io.onLine(`port ${r.port} was taken by another process before the app listened; starting again on another port`);
        r.handle = undefined;
        await handle.stop(0);
        options.ports.release(r.port);
      }
      if (!outcome.healthy) {
        if (outcome.reason === 'exited') {
          r.handle = undefined;
          if (!(await canBind(r.port, '0.0.0.0'))) {
            return failure(r, new ForgeError('E_PROVIDER',
              `${outcome.message}: port ${r.port} was taken by another process before the app listened (${PORT_ATTEMPTS} ports tried)`), outcome.exit, outcome.lastLines);
          }
          return failure(r, new ForgeError('E_HEALTH_FAILED', outcome.message), outcome.exit, outcome.lastLines);
        }
        r.stopping = true;
        await handle.stop(2_000);
        r.handle = undefined;
        r.stopping = false;
        return failure(r, new ForgeError('E_HEALTH_FAILED', outcome.message), null, handle.tail(20));
      }
      r.state = 'running';
      r.health = 'healthy';
      r.healthySince = now();
      r.monitor = monitorHealth({
        port: r.port, health: spec.health,
        onChange: (status, reason) => {
          if (r.state !== 'running' && r.state !== 'unhealthy') return;
          r.state = status === 'healthy' ? 'running' : 'unhealthy';
          r.health = status;
          if (reason === null) delete r.reason;
          else r.reason = reason;
          options.onChange();
        },
      });
      watch(r, handle);
      options.onChange();
      io.onLine(`${spec.name} replica ${payload.replica} healthy on ${options.host}:${r.port}`);
      return { ok: true, result: { message: 'healthy', instance: report(r), commit: prepared.commit } };
    } catch (thrown) {
      if (signal.aborted) return abandoned(r);
      if (r.handle) await teardown(r, 0);
      r.stopping = false;
      return failure(r, toForgeError(thrown, 'E_PROVIDER'), null);
    }
  }

  /** The task was taken from us (lease lost) or stopped meanwhile: leave nothing behind. */
  async function abandoned(r: InstanceRecord): Promise<ResultRequest> {
    await teardown(r, 0);
    if (records.get(r.id) === r && r.state === 'starting') records.delete(r.id);
    options.onChange();
    return { ok: false, result: { code: 'E_CONFLICT', message: 'abandoned: the task was cancelled or its lease was lost' } };
  }

  async function stop(payload: StopPayload, graceMs: number): Promise<ResultRequest> {
    const r = records.get(payload.instanceId);
    if (!r) return { ok: true, result: { message: 'no such instance here (already gone)' } };
    await teardown(r, graceMs);
    if (payload.remove) {
      if (records.get(r.id) === r) records.delete(r.id);
      await fs.rm(instanceDir(r.id), { recursive: true, force: true }).catch(() => undefined);
    } else {
      r.state = 'stopped';
      r.health = 'unknown';
      r.port = 0;
    }
    options.onChange();
    return { ok: true, result: { message: payload.remove ? 'stopped and removed' : 'stopped' } };
  }

  return {
    run,
    stop,
    reports: (): InstanceReport[] => [...records.values()].map(report),
    /** Host pids of an instance's processes (tests kill one by hand). */
    pidOf: (id: string): number | undefined => records.get(id)?.handle?.pid,
    handles: (): InstanceHandle[] => [...records.values()].flatMap((r) => (r.handle ? [r.handle] : [])),
    /** Stops every instance (SIGTERM, then SIGKILL after graceMs); 0 kills at once. */
    async stopAll(graceMs: number): Promise<void> {
      await Promise.all([...records.values()].map((r) => teardown(r, graceMs)));
    },
  };
}

export type Supervisor = ReturnType<typeof createSupervisor>;

/** The exit as one code: a signal death is 128+n, as a shell would say it. */
function exitCodeOf(exit: ExitInfo): number {
  if (exit.code !== null) return exit.code;
  const n = exit.signal === null ? undefined : constants.signals[exit.signal];
  return n === undefined ? 1 : 128 + n;
}
