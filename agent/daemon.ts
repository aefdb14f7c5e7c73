// The `forge agent` daemon: registers with the control plane, heartbeats what it
// runs, claims tasks by long-poll and runs them (a few at a time), renewing each
// task's lease while it works. On start it clears sandboxes a crashed agent left
// under its own cgroup root.

import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ForgeError, isForgeError } from '../errors/index.ts';
import type { ClaimResponse, HeartbeatRequest, ResultRequest, Resources } from '../schemas/agent-protocol.ts';
import { isJobPayload, isOneOffPayload, isRunPayload, isStopPayload } from '../providers/agent/view.ts';
import { registerAsSelf } from './identity.ts';
import { createAgentMetrics, DEFAULT_METRICS_PORT, serveMetrics, type MetricsServer } from './metrics.ts';
import { createLogShipper } from './log-shipper.ts';
import { createProtocolClient } from './protocol-client.ts';
import { createCpuSampler, hostCapacity, instanceUsage } from './resources.ts';
import { detectRuntimes } from './runtimes.ts';
import { detectImageRuntimes } from './image/detect.ts';
import { describeRuntimes } from '../specs/runtimes.ts';
import { createPortPool, DEFAULT_PORT_RANGE, ephemeralOverlapWarning, parseEphemeralRange } from './runner/ports.ts';
import { sweepSandboxes, type ForgeMode } from './sandbox/index.ts';
import { sweepDisks } from './sandbox/disk.ts';
import { createSupervisor } from './supervisor.ts';
import { bundleSource } from './bundle-fetch.ts';
import { admitClaim, createTermGuard } from './term-guard.ts';
import { defaultTaskSlots } from './task-slots.ts';

export interface AgentOptions {
  /** Control plane base URL, e.g. http://127.0.0.1:8080, or a comma-separated list of its replicas' (fails over between them). */
  server: string;
  /** Registration token (FORGE_AGENT_TOKEN or one created on the control plane). */
  token: string;
  dataDir: string;
  portRange?: { from: number; to: number };
  mode?: ForgeMode;
  /** Exporter port (default 9108; 0 picks a free one; null turns it off). */
  metricsPort?: number | null;
  metricsHost?: string;
  name?: string;
  /** Forge-owned parent cgroup of this agent's sandboxes; give two agents on one host different roots. */
  cgroupRoot?: string;
  /** Host in reported instance addresses (default 127.0.0.1). */
  host?: string;
  capacity?: Partial<Resources>;
  /** Where to look for language runtimes at start (default: the agent's PATH). */
  runtimePath?: string;
  labels?: Record<string, string>;
  /** Overrides the control plane's suggested interval (tests use ~200 ms). */
  heartbeatIntervalMs?: number;
  claimWaitMs?: number;
  /** Tasks worked on at once; default four per host CPU (agent/task-slots.ts). */
  maxConcurrentTasks?: number;
  stopGraceMs?: number;
  startTimeoutMs?: number;
  isolation?: 'auto' | 'off';
  /** Size of each instance's writable filesystem in MB (default 2048). */
  diskMb?: number;
  log?: (line: string) => void;
}

export interface AgentHandle {
  readonly id: string;
  readonly name: string;
  /** The exporter's port, or null when it is off. */
  readonly metricsPort: number | null;
  instances(): ReturnType<ReturnType<typeof createSupervisor>['reports']>;
  /** Host pid of an instance's sandboxed process tree root, while it runs. */
  pidOf(instanceId: string): number | undefined;
  supervisor: ReturnType<typeof createSupervisor>;
  /** Graceful: stop claiming and heartbeating, stop every instance (SIGTERM, grace, SIGKILL). */
  stop(): Promise<void>;
  /** Sudden death, for tests: heartbeats stop and instances are killed without a word to the control plane. */
  kill(): Promise<void>;
}

export async function startAgent(options: AgentOptions): Promise<AgentHandle> {
  const log = options.log ?? ((line: string) => process.stderr.write(`forge agent: ${line}\n`));
  const name = options.name ?? os.hostname();
  const cgroupRoot = options.cgroupRoot ?? 'forge-agent';
  const mode = options.mode ?? 'development';
  const capacity = hostCapacity(options.capacity);
  const terms = createTermGuard(options.dataDir, log);
  const client = createProtocolClient(options.server, { onTerm: (term) => terms.observe(term) });
  const stopping = new AbortController();
  const range = options.portRange ?? DEFAULT_PORT_RANGE;
  let heartbeatSoon: () => void = () => {};
  const ephemeral = await readFile('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').then(parseEphemeralRange, () => null);
  const overlap = ephemeralOverlapWarning(range, ephemeral);
  if (overlap) log(`warning: ${overlap}`);

  await sweepSandboxes(cgroupRoot).catch((error: unknown) => log(`could not sweep old sandboxes: ${(error as Error).message}`));
  // A killed run leaves its instances' loop-mounted disks mounted: nothing of it runs now, so
  // all go at once (not at the next release, which may never come to this agent).
  const instancesDir = path.join(options.dataDir, 'instances');
  await sweepDisks(instancesDir, new Set()).catch((error: unknown) => log(`could not unmount old instance disks: ${(error as Error).message}`));
  const jobsDir = path.join(options.dataDir, 'jobs'); // cron runs (supervisor.runJob) a killed agent left
  await sweepDisks(jobsDir, new Set()).catch((error: unknown) => log(`could not unmount old job disks: ${(error as Error).message}`));
  // Language runtimes, plus whether images and Dockerfiles can run here (agent/image/detect.ts).
  const runtimes = [...await detectRuntimes(options.runtimePath ?? process.env.PATH), ...await detectImageRuntimes(options.runtimePath ?? process.env.PATH)];

  // App and build output goes to the control plane in batches; a batch it refuses (an
  // instance it no longer knows) is dropped, anything else is retried.
  const shipper = createLogShipper({
    async send(lines) {
      if (await client.logs(lines) === 'refused') log(`control plane refused ${lines.length} log line(s); dropped`);
    },
    log,
  });

  const supervisor = createSupervisor({
    dataDir: options.dataDir,
    ports: createPortPool({ from: range.from, to: range.to }),
    host: options.host ?? '127.0.0.1',
    mode,
    cgroupRoot,
    runtimes,
    ...(options.isolation ? { isolation: options.isolation } : {}),
    ...(options.startTimeoutMs === undefined ? {} : { startTimeoutMs: options.startTimeoutMs }),
    ...(options.diskMb === undefined ? {} : { diskMb: options.diskMb }),
    // Bundles of instances it holds are never pruned from its cache (supervisor exists by the time this runs).
    bundleSource: (digest, signal) => bundleSource(path.join(options.dataDir, 'bundles'), digest, (d, s) => client.bundle(d, s), signal, () => supervisor.revisions()),
    onChange: () => heartbeatSoon(),
    ship: (line) => shipper.push(line),
    log,
  });

  async function register(): Promise<{ id: string; intervalMs: number }> {
    const answer = await registerAsSelf(client, options.dataDir, {
      name, capacity, addresses: [options.host ?? '127.0.0.1'], labels: options.labels ?? {},
      // None at start (swept above); all it runs when it registers again for a control plane that forgot it.
      instances: supervisor.reports(),
      runtimes,
    }, options.token);
    terms.bind(answer.id); // a new id (the control plane forgot us): the terms seen before mean nothing now
    return { id: answer.id, intervalMs: options.heartbeatIntervalMs ?? answer.heartbeatIntervalMs };
  }

  const first = await register();
  const id = first.id;
  const intervalMs = first.intervalMs;
  log(`registered as ${id} (${name}) with ${client.server}; ${capacity.cpus} CPU, ${Math.round(capacity.memoryBytes / 2 ** 20)} MB; mode ${mode}; runtimes: ${describeRuntimes(runtimes) || 'none found on PATH'}`);

  const metrics = createAgentMetrics({ agent: name });
  let metricsServer: MetricsServer | null = null;
  const metricsPort = options.metricsPort === undefined ? DEFAULT_METRICS_PORT : options.metricsPort;
  if (metricsPort !== null) metricsServer = await serveMetrics(metrics.registry, metricsPort, options.metricsHost ?? '0.0.0.0');

  // Heartbeats: on a timer, and soon after anything in a report changes.
  const cpuSample = createCpuSampler();
  let lastHeartbeatMs: number | null = null;
  let beating: Promise<void> | null = null;
  let again = false;
  let timer: NodeJS.Timeout | undefined;
  let failing = false;

  async function beat(): Promise<void> {
    const usage = await instanceUsage(supervisor.handles());
    const imageBytes = await supervisor.imageBytes().catch(() => 0);
    const report: HeartbeatRequest = {
      capacity, usage: { cpus: cpuSample(), memoryBytes: usage.memoryBytes }, processes: usage.processes,
      instances: supervisor.reports(), time: Date.now(), ...(imageBytes > 0 ? { imageBytes } : {}),
    };
    metrics.update({
      cpuUsed: report.usage.cpus, memoryUsedBytes: usage.memoryBytes, memoryCapacityBytes: capacity.memoryBytes,
      processes: usage.processes, lastHeartbeatMs,
    });
    try {
      await client.heartbeat(report);
      lastHeartbeatMs = Date.now();
      metrics.update({ cpuUsed: report.usage.cpus, memoryUsedBytes: usage.memoryBytes, memoryCapacityBytes: capacity.memoryBytes, processes: usage.processes, lastHeartbeatMs });
      if (failing) log('heartbeats accepted again');
      failing = false;
    } catch (error) {
      if (!failing) log(`heartbeat failed: ${(error as Error).message}`);
      failing = true;
      // Unknown to the control plane (its database was reset, or our token was replaced): register again.
      if (isForgeError(error) && (error.code === 'E_UNAUTHORIZED' || error.code === 'E_NOT_FOUND')) await register().catch(() => undefined);
    }
  }

  function heartbeatNow(): void {
    if (stopping.signal.aborted) return;
    if (beating) {
      again = true;
      return;
    }
    clearTimeout(timer);
    beating = beat().finally(() => {
      beating = null;
      if (stopping.signal.aborted) return;
      if (again) {
        again = false;
        heartbeatNow();
      } else {
        timer = setTimeout(heartbeatNow, intervalMs);
      }
    });
  }
  heartbeatSoon = () => {
    if (stopping.signal.aborted) return;
    clearTimeout(timer);
    timer = setTimeout(heartbeatNow, 20);
  };
  heartbeatNow();

  // Claims: a few tasks at a time; each renews its lease while it works.
  const maxTasks = options.maxConcurrentTasks ?? defaultTaskSlots(os.availableParallelism());
  const running = new Set<Promise<void>>();
  const claimWaitMs = options.claimWaitMs ?? 20_000;

  async function claimLoop(): Promise<void> {
    while (!stopping.signal.aborted) {
      if (running.size >= maxTasks) {
        await Promise.race(running);
        continue;
      }
      let claimed: ClaimResponse | null;
      try {
        claimed = await client.claim(claimWaitMs, stopping.signal);
      } catch (error) {
        if (stopping.signal.aborted) return;
        log(`claim failed: ${(error as Error).message}`);
        await sleep(1_000, undefined, { signal: stopping.signal }).catch(() => undefined);
        continue;
      }
      if (claimed === null || stopping.signal.aborted) continue;
      // Fencing: a task from a leader term older than one seen is reported refused, never run.
      const admitted = await admitClaim(client, terms, claimed).catch((error: unknown) => {
        log(`task ${claimed.task.id}: could not report it refused: ${(error as Error).message}`);
        return false;
      });
      if (!admitted) {
        log(`task ${claimed.task.id} refused: issued under term ${claimed.task.term}, term ${terms.highest} seen`);
        continue;
      }
      const work = handle(claimed).catch((error: unknown) => log(`task ${claimed.task.id} failed: ${(error as Error).message}`));
      running.add(work);
      void work.finally(() => running.delete(work));
    }
  }

  async function handle(claimed: ClaimResponse): Promise<void> {
    const { task } = claimed;
    const lost = new AbortController();
    const pending: string[] = [];
    let flushing: Promise<void> = Promise.resolve();
    const flush = (): Promise<void> => {
      flushing = flushing.then(async () => {
        if (lost.signal.aborted) return;
        const lines = pending.splice(0, 1_000);
        const answer = await client.progress(task.id, lines).catch(() => 'ok' as const); // a blip: the next renewal retries
        if (answer === 'lost') lost.abort();
      });
      return flushing;
    };
    await flush(); // claimed → running
    if (lost.signal.aborted) return;
    const renewEvery = Math.max(100, Math.min(Math.floor(task.leaseMs / 3), 2_000));
    const renewer = setInterval(() => void flush(), renewEvery);
    let result: ResultRequest;
    try {
      if (task.kind === 'run' && isRunPayload(task.payload)) {
        result = await supervisor.run(task.payload, {
          secrets: claimed.secrets, ...(claimed.registry ? { registry: claimed.registry } : {}), signal: lost.signal, onLine: (line) => void pending.push(line),
        });
      } else if (task.kind === 'build' && isOneOffPayload(task.payload)) {
        // A one-off runs once: a re-delivered claim of one is refused by the control plane.
        result = await supervisor.oneOff(task.payload, {
          secrets: claimed.secrets, signal: AbortSignal.any([lost.signal, stopping.signal]), onLine: (line) => void pending.push(line),
        });
      } else if (task.kind === 'job' && isJobPayload(task.payload)) {
        result = await supervisor.runJob(task.payload, {
          secrets: claimed.secrets, signal: lost.signal, onLine: (line) => void pending.push(line),
        }, options.stopGraceMs ?? 10_000);
      } else if (task.kind === 'stop' && isStopPayload(task.payload)) {
        result = await supervisor.stop(task.payload, options.stopGraceMs ?? 10_000);
      } else {
        const error = new ForgeError('E_BAD_REQUEST', `this agent cannot run ${task.kind} tasks with this payload`);
        result = { ok: false, result: { code: error.code, message: error.message } };
      }
      // A command's output goes first: whoever sees the result (a failed start in `forge apply`)
      // can then read it in `forge logs`. Bounded, while the lease is still renewed; a stop has
      // no output of its own to wait for, and a lost task or a stopping agent reports nothing.
      if (task.kind !== 'stop') await shipper.shipped(2_000, AbortSignal.any([lost.signal, stopping.signal]));
    } finally {
      clearInterval(renewer);
    }
    await flush();
    if (lost.signal.aborted || stopping.signal.aborted) return;
    if (task.kind === 'job') await deliverJobResult(task.id, task.leaseMs, result);
    else await client.result(task.id, result);
    heartbeatSoon();
  }

  /**
   * A job's command ran: its result is worth retrying while the control plane is away (a
   * restart), until the lease would have run out. Undelivered, the run is reported lost.
   */
  async function deliverJobResult(taskId: string, leaseMs: number, result: ResultRequest): Promise<void> {
    const deadline = Date.now() + leaseMs;
    for (;;) {
      try {
        await client.result(taskId, result);
        return;
      } catch (error) {
        if (stopping.signal.aborted || Date.now() + 500 > deadline) throw error;
        await sleep(500, undefined, { signal: stopping.signal }).catch(() => undefined);
      }
    }
  }

  const claiming = claimLoop();

  async function halt(graceMs: number): Promise<void> {
    if (stopping.signal.aborted) return;
    stopping.abort();
    clearTimeout(timer);
    await claiming.catch(() => undefined);
    await supervisor.stopAll(graceMs);
    await Promise.allSettled([...running]);
    // A graceful stop ships what its instances printed last; a sudden death loses what is queued.
    await shipper.close(graceMs === 0 ? 0 : 2_000);
    await beating?.catch(() => undefined);
    await metricsServer?.close();
    await sweepDisks(instancesDir, new Set()).catch((error: unknown) => log(`could not unmount instance disks: ${(error as Error).message}`));
    await sweepDisks(jobsDir, new Set()).catch((error: unknown) => log(`could not unmount job disks: ${(error as Error).message}`));
    // Leave no cgroup behind: the instances are gone, so their root can go too.
    await sweepSandboxes(cgroupRoot).catch((error: unknown) => log(`could not remove sandboxes: ${(error as Error).message}`));
  }

  return {
    id,
    name,
    metricsPort: metricsServer?.port ?? null,
    instances: () => supervisor.reports(),
    pidOf: (instanceId) => supervisor.pidOf(instanceId),
    supervisor,
    stop: () => halt(options.stopGraceMs ?? 10_000),
    kill: () => halt(0),
  };
}

/** `20000-32767` → { from, to }. */
export function parsePortRange(text: string): { from: number; to: number } {
  const match = /^(\d{1,5})-(\d{1,5})$/.exec(text.trim());
  const from = Number(match?.[1]);
  const to = Number(match?.[2]);
  if (!match || from < 1 || to > 65_535 || from > to) {
    throw new ForgeError('E_USAGE', `invalid port range \`${text}\`: expected FROM-TO, e.g. 20000-32767`);
  }
  return { from, to };
}

export const DEFAULT_AGENT_DATA_DIR = path.join('.forge', 'agent');
