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
import type { InstanceReport, JobPayload, ReportedState, ResultRequest, RunPayload, ShippedLine, StopPayload } from '../schemas/agent-protocol.ts';
import { capFailureMessage, failureWithOutput } from './failure-output.ts';
import { createMasker, type Masker } from './runner/mask.ts';
import { prepareWorkDir, runBuild, type SandboxLimits } from './runner/build.ts';
import { sourceForRevision } from './runner/source-cache.ts';
import { prepareBuildCache } from './runner/build-cache.ts';
import { isBundleDigest } from '../specs/bundle.ts';
import { monitorHealth, waitHealthy, type HealthMonitor } from './runner/health.ts';
import { canBind, type PortPool } from './runner/ports.ts';
import { startInstance, type InstanceHandle } from './runner/run.ts';
import { createReleaseNetwork, forwardedAddress, PortTakenError, type ExitInfo, type ForgeMode, type SandboxNetwork, type Weaken } from './sandbox/index.ts';
import { chownTree, createIdentityStore, type SandboxIdentity } from './sandbox/identity.ts';
import { createDisk, isDiskFullLine, releaseDisk, sweepDisks, type InstanceDisk } from './sandbox/disk.ts';
import { findRuntime, type AgentRuntime } from '../specs/runtimes.ts';
import type { OneOffPayload } from '../schemas/agent-protocol.ts';
import { runOneOff, type OneOffIo } from './one-off.ts';
import { createImageStore, type ImageStore } from './image/store.ts';
import { prepareImageRelease, type ImageRelease } from './image/release.ts';
import { buildDockerfileRelease, isDockerfileSpec } from './image/dockerfile.ts';
import { imagesToKeep } from './image/gc.ts';
import { buildTag } from './image/build-stores.ts';
import type { RegistryCredential } from './image/skopeo.ts';

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
  /** Size of each instance's writable filesystem (its release dir), in MB (default 2048). */
  diskMb?: number;
  /** How often a running instance's process-limit counter is read (default 2 s). */
  limitsPollMs?: number;
  /** Test-only (test/security): switch single sandbox protections off. */
  weaken?: Weaken;
  /** The folder of a source bundle, fetched from the control plane by digest (bundle-fetch.ts). */
  bundleSource?: (digest: string, signal?: AbortSignal) => Promise<string>;
  /** Each line of build and app output, secrets masked (the daemon ships them to the control plane). */
  ship?(line: ShippedLine): void;
  /** The image cache (default: <dataDir>/images). */
  images?: ImageStore;
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
  pidsLimitHits?: number;
  reason?: string;
  exitedAt?: number;
  restarts: number;
  healthySince?: number;
  handle?: InstanceHandle;
  monitor?: HealthMonitor;
  /** The release's network namespace, shared by its build and app, with `port` forwarded (null: none here). */
  network?: SandboxNetwork | null;
  /** The size-limited filesystem holding the release dir (absent with isolation off or when development could not make one). */
  disk?: InstanceDisk;
  /** Reads the cgroup's pids.events while running (see watchLimits). */
  limitsTimer?: NodeJS.Timeout;
  /** Set once a stop (or the agent's own shutdown) is under way: its exit is expected. */
  stopping: boolean;
  /** The image digest it runs (image and Dockerfile services): garbage collection keeps it. */
  imageDigest?: string;
  abort: AbortController;
}

export interface RunIo {
  secrets: Record<string, string>;
  /** Credentials of the image's registry host, from the claim (never in argv: skopeo gets an auth file). */
  registry?: Record<string, RegistryCredential>;
  onLine(line: string): void;
  /** Aborts when the task's lease is lost: the instance is torn down again. */
  signal: AbortSignal;
}

/** The control plane keeps 8 KiB of a line; cutting here keeps a full batch well inside its body limit. */
const MAX_SHIPPED_LINE = 8 * 1024;

/** Starts of one instance on fresh ports when another process keeps taking its port. */
const PORT_ATTEMPTS = 3;

export function createSupervisor(options: SupervisorOptions) {
  const now = options.now ?? Date.now;
  const records = new Map<string, InstanceRecord>();
  const slots = new Map<string, number>();
  const restartResetMs = options.restartResetMs ?? 10 * 60_000;

  // One unprivileged host identity per service, recorded so two services never share one.
  const identities = createIdentityStore(path.join(options.dataDir, 'identities.json'));
  // Builds always reach out (they fetch packages); the running app only unless its spec says `egress: false`.
  const limits = (spec: ServiceSpec, pidsMax: number, identity: SandboxIdentity, network: SandboxNetwork | null | undefined, egress = true): SandboxLimits => ({
    memoryMb: spec.resources.memoryMb, cpus: spec.resources.cpus, pidsMax, mode: options.mode, root: options.cgroupRoot,
    identity, hostname: spec.name, network: { bindHost: options.host, egress }, sharedNetwork: network ?? null,
    ...(options.isolation ? { isolation: options.isolation } : {}),
    ...(options.weaken ? { weaken: options.weaken } : {}),
  });
  const instanceDir = (id: string) => path.join(options.dataDir, 'instances', id);
  const images = options.images ?? createImageStore(options.dataDir);

  /**
   * Drops cached images no instance here runs and no release the control plane
   * named as a rollback target uses (imagesToKeep): after each image start, in the background.
   */
  async function collectImages(): Promise<void> {
    const keep = imagesToKeep([...records.values()].map((rec) => ({ digest: rec.imageDigest, retain: rec.payload.retainImages, state: rec.state })));
    try {
      const removed = await images.prune(keep);
      if (removed.length > 0) options.log(`image cache: removed ${removed.length} image(s) no kept release uses`);
      const builds = await images.pruneBuilds(await buildsToKeep());
      if (builds.storesRemoved + builds.imagesRemoved > 0) {
        options.log(`build stores: removed ${builds.storesRemoved} store(s) of services gone from this agent and ${builds.imagesRemoved} build(s) no kept release uses`);
      }
      for (const failure of builds.failed) options.log(`build stores: could not prune ${failure}`);
    } catch (error) {
      options.log(`image cache: garbage collection failed: ${(error as Error).message}`);
    }
  }

  /** Per build store (its service's identity slot): the build tags of the current and rollback-target revisions of Dockerfile instances here. */
  async function buildsToKeep(): Promise<Map<number, Set<string>>> {
    const keep = new Map<number, Set<string>>();
    for (const rec of records.values()) {
      const { spec, retainImages } = rec.payload;
      if (!isDockerfileSpec(spec)) continue;
      const { slot } = await identities.forService(spec.name);
      const tags = keep.get(slot) ?? new Set<string>();
      for (const revision of [spec.revision, ...(retainImages ?? [])]) tags.add(buildTag(spec.name, revision));
      keep.set(slot, tags);
    }
    return keep;
  }

  function report(r: InstanceRecord): InstanceReport {
    const out: InstanceReport = {
      id: r.id, service: r.payload.spec.name, replica: r.payload.replica, generation: r.payload.generation,
      hash: r.payload.hash, region: r.spec.region, state: r.state, port: r.port,
      address: r.port === 0 ? '' : `${options.host}:${r.port}`, health: r.health, restarts: r.restarts,
      reserved: { cpus: r.spec.resources.cpus, memoryBytes: r.spec.resources.memoryMb * 1024 * 1024 },
    };
    if (r.exitCode !== undefined) out.exitCode = r.exitCode;
    if (r.oomKilled !== undefined) out.oomKilled = r.oomKilled;
    if (r.pidsLimitHits !== undefined) out.pidsLimitHits = r.pidsLimitHits;
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

  // Development with less isolation says so once per agent, not on every build.
  let warned = false;
  function warnOnce(warning: string | null): void {
    if (warning === null || warned) return;
    warned = true;
    options.log(`${warning} (said once; production refuses to run without it)`);
  }

  /**
   * A fork refused by pids.max does not end the instance (the app usually
   * survives it), so its exit never tells: the counter is read while it runs and
   * each rise goes out in the next report (an event on the control plane).
   */
  function watchLimits(r: InstanceRecord, handle: InstanceHandle): void {
    const tick = async () => {
      const counters = await handle.sandbox.counters().catch(() => null);
      if (r.handle !== handle || r.stopping) return;
      if (counters !== null && counters.pidsMaxHits > (r.pidsLimitHits ?? 0)) {
        r.pidsLimitHits = counters.pidsMaxHits;
        options.log(`instance ${r.id} (${r.payload.spec.name}): fork refused at the process limit (${counters.pidsMaxHits} times since start)`);
        options.onChange();
      }
      r.limitsTimer = setTimeout(() => void tick(), options.limitsPollMs ?? 2_000);
      r.limitsTimer.unref();
    };
    r.limitsTimer = setTimeout(() => void tick(), options.limitsPollMs ?? 2_000);
    r.limitsTimer.unref();
  }

  function markExited(r: InstanceRecord, reason: string, exit: ExitInfo | null): void {
    r.monitor?.stop();
    clearTimeout(r.limitsTimer);
    r.state = 'exited';
    r.health = 'unhealthy';
    r.reason = reason;
    r.exitedAt = now();
    if (exit) {
      r.exitCode = exitCodeOf(exit);
      r.oomKilled = exit.reason === 'oom';
    }
    void freePort(r);
    countCrash(r);
  }

  function failure(r: InstanceRecord, error: ForgeError, exit: ExitInfo | null, lastLines: string[] = [], mask: Masker = (l) => l): ResultRequest {
    // The message names the last lines and where the whole output is: it ends up in events, status and `forge apply`.
    const masked = lastLines.slice(-50).map(mask);
    const message = capFailureMessage(mask(failureWithOutput(r.payload.spec.name, r.id, error, masked)));
    markExited(r, message, exit);
    options.onChange();
    return { ok: false, result: { code: error.code, message, lastLines: masked, instance: report(r) } };
  }

  function watch(r: InstanceRecord, handle: InstanceHandle, mask: Masker): void {
    void handle.exited.then(async (exit) => {
      if (r.stopping || records.get(r.id) !== r || r.handle !== handle) return;
      const note = await diskNote(r, handle.tail(20));
      if (r.stopping || records.get(r.id) !== r || r.handle !== handle) return;
      r.handle = undefined;
      // A crash after start says its last lines too (events, status), secrets masked.
      markExited(r, capFailureMessage(mask(failureWithOutput(r.payload.spec.name, r.id, new ForgeError('E_PROVIDER', `${exit.message}${note}`), handle.tail(20)))), exit);
      options.log(`instance ${r.id} (${r.payload.spec.name} replica ${r.payload.replica}) ${exit.message}${note}`);
      options.onChange();
    });
  }

  async function teardown(r: InstanceRecord, graceMs: number): Promise<void> {
    r.stopping = true;
    r.abort.abort();
    r.monitor?.stop();
    clearTimeout(r.limitsTimer);
    const handle = r.handle;
    r.handle = undefined;
    if (handle) await handle.stop(graceMs);
    await freePort(r);
    if (r.disk !== undefined) {
      r.disk = undefined;
      await releaseDisk(instanceDir(r.id));
    }
  }

  /** Ends the release's network namespace (its pasta holds the port on the host), then returns the port to the pool. */
  async function freePort(r: InstanceRecord): Promise<void> {
    const network = r.network;
    r.network = null;
    if (network) await network.destroy().catch(() => undefined);
    if (r.port !== 0) options.ports.release(r.port);
  }

  /**
   * The port and the network namespace of a release, before its build: one
   * namespace for build and app (pasta takes ~0.1 s to come up). A port bound
   * on the host by someone else shows here; another port is tried.
   */
  async function releaseNetwork(r: InstanceRecord, io: RunIo): Promise<ForgeError | null> {
    for (let attempt = 1; ; attempt += 1) {
      r.port = await options.ports.allocate();
      try {
        r.network = await createReleaseNetwork({
          id: r.id, port: r.port, bindHost: options.host, root: options.cgroupRoot,
          ...(options.isolation ? { isolation: options.isolation } : {}), ...(options.weaken ? { weaken: options.weaken } : {}),
        });
      } catch (err) {
        options.ports.release(r.port);
        r.port = 0;
        // Returned, not thrown: this promise runs beside the release's copy, and a rejection
        // nobody awaits yet would end the agent (and every app it supervises) instead of this start.
        if (!(err instanceof PortTakenError)) return new ForgeError('E_PROVIDER', `could not start: ${(err as Error).message}`);
        if (attempt >= PORT_ATTEMPTS) return new ForgeError('E_PROVIDER', `could not start: ${err.message} (${PORT_ATTEMPTS} ports tried)`);
        io.onLine(`${err.message}; starting again on another port`);
        continue;
      }
      if (r.network === null) {
        // No own namespace here: the app binds the host port itself, allocated when it starts.
        options.ports.release(r.port);
        r.port = 0;
      }
      return null;
    }
  }

  /** ' (disk limit of N MB reached)' when the instance's filesystem is full or its output says so; else ''. */
  async function diskNote(r: InstanceRecord, lines: readonly string[]): Promise<string> {
    if (r.disk === undefined) return '';
    const full = (await r.disk.full()) || lines.some(isDiskFullLine);
    return full ? ` (disk limit of ${r.disk.limitMb} MB reached)` : '';
  }

  let swept = false;
  /** The release dir: on its own size-limited filesystem when isolation is on. */
  async function releaseDir(r: InstanceRecord, dir: string, identity: SandboxIdentity): Promise<string> {
    if (options.isolation === 'off' || options.weaken?.disk === true) return path.join(dir, 'app');
    if (!swept) {
      swept = true;
      // Disks of instances a crashed agent left behind are still mounted.
      await sweepDisks(path.join(options.dataDir, 'instances'), new Set(records.keys()));
    }
    try {
      r.disk = await createDisk(dir, options.diskMb ?? 2048, identity.hostUid, identity.hostGid);
      return path.join(r.disk.mountPoint, 'app');
    } catch (err) {
      const missing = `no disk limit for ${r.id}: could not make a loop-mounted filesystem (${(err as Error).message.split('\n')[0]}); run the agent as root with loop devices and mkfs.ext4 (e2fsprogs)`;
      if (options.mode === 'production') throw new ForgeError('E_ISOLATION_UNAVAILABLE', `refusing to run ${r.id} in production mode: ${missing}`);
      warnOnce(`running with reduced isolation (development mode): ${missing}`);
      return path.join(dir, 'app');
    }
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
    const mask = createMasker(io.secrets);
    const buildId = `build_${r.id.replace(/^inst_/, '')}_${Date.now().toString(36)}`;
    const shipper = (build: string | undefined) => (line: string, stream: 'stdout' | 'stderr') =>
      options.ship?.({ instance: r.id, ...(build === undefined ? {} : { build }), stream, time: Date.now(), line: mask(line).slice(0, MAX_SHIPPED_LINE) });
    const shipBuild = shipper(buildId);
    try {
      const wantsImage = spec.image !== undefined || isDockerfileSpec(spec);
      if (!wantsImage && (spec.sourceDir === undefined || spec.run === undefined)) {
        return failure(r, new ForgeError('E_BUILD_FAILED', `${spec.name}: agents run source-mode services (build + run.command), images and Dockerfiles; this spec has none of them`, { terminal: true }), null);
      }
      // The network comes up (pasta: ~0.1-0.2 s) while the release is copied (or its image pulled).
      const networkReady = releaseNetwork(r, io);
      let workDir: string;
      let commit: string | null = null;
      let image: ImageRelease | undefined;
      let identity: SandboxIdentity;
      if (wantsImage) {
        try {
          identity = await identities.forService(spec.name);
          const bundleDir = await releaseDir(r, dir, identity);
          image = spec.image !== undefined
            ? await prepareImageRelease({ images, spec: { ...spec, image: spec.image }, bundleDir, identity, ...(io.registry ? { registry: io.registry } : {}), signal, onLine: io.onLine })
            : await buildDockerfileRelease({
              images, spec, bundleDir, identity, dataDir: options.dataDir, signal, bundleSource: options.bundleSource,
              logFile: path.join(dir, 'logs', 'build.log'), onLine: (line, stream) => { io.onLine(mask(line)); shipBuild(line, stream); },
            });
          workDir = bundleDir;
          r.imageDigest = image.digest;
        } catch (err) {
          await networkReady.catch(() => undefined);
          throw err;
        }
        const portProblem = await networkReady;
        if (portProblem !== null) return failure(r, portProblem, null);
      } else {
        let prepared: Awaited<ReturnType<typeof prepareWorkDir>>;
        try {
          // Build from this revision's copy, not from whatever the folder holds now (a rollback, a late restart).
          // A bundle is fetched by digest from the control plane; a folder path is only read when no bundle is named.
          const bundled = isBundleDigest(spec.revision) && options.bundleSource !== undefined;
          const source = bundled
            ? await options.bundleSource!(spec.revision!, signal)
            : await sourceForRevision(path.join(options.dataDir, 'sources'), spec.sourceDir!, spec.revision);
          // The release belongs to the service's identity: its build and app write there, nothing else of the host.
          identity = await identities.forService(spec.name);
          prepared = await prepareWorkDir(source, await releaseDir(r, dir, identity), bundled ? source : spec.sourceDir!);
          io.onLine(`release ${payload.hash.slice(0, 12)} of ${spec.name}${prepared.commit ? ` at ${prepared.commit}` : ''}`);
        } catch (err) {
          await networkReady.catch(() => undefined); // so the failure below frees what it made
          throw err;
        }
        // Package caches and the previous release's node_modules (same lockfile) make a rebuild cheap.
        const cache = await prepareBuildCache(path.join(options.dataDir, 'build-cache'), spec.name, prepared.dir);
        if (cache.restored) io.onLine(`reusing the previous release's dependencies (lockfile ${cache.lock!.slice(0, 12)} unchanged)`);
        await chownTree(prepared.dir, identity.hostUid, identity.hostGid);
        // The build writes its package caches as the service's identity (mounted at /cache under crun).
        // (Its kept dependency folders are the agent's copies: only the download caches change hands.)
        await fs.lchown(cache.dir, identity.hostUid, identity.hostGid);
        for (const dir of cache.dirs) await chownTree(dir, identity.hostUid, identity.hostGid);
        const portProblem = await networkReady;
        if (portProblem !== null) return failure(r, portProblem, null);
        const runtime = spec.runtime === undefined ? undefined : findRuntime(spec.runtime, options.runtimes ?? []);
        if (spec.runtime !== undefined && !runtime) io.onLine(`runtime ${spec.runtime} was not found on this agent; building with the host's PATH`);
        const buildStarted = Date.now();
        const build = await runBuild({
          ...(runtime ? { pathFirst: path.dirname(runtime.path) } : {}),
          id: `build-${r.id}`, workDir: prepared.dir, commands: spec.build?.commands ?? [], env: { ...cache.env, ...spec.env }, secrets: io.secrets,
          sandbox: { ...limits(spec, options.buildPidsMax ?? 1024, identity, r.network), cacheDir: cache.dir }, logFile: path.join(dir, 'logs', 'build.log'),
          onLine: (line, stream) => {
            io.onLine(mask(line));
            shipBuild(line, stream);
          },
          signal,
        });
        warnOnce(build.warning);
        if (signal.aborted) return abandoned(r);
        if (!build.ok) {
          const note = await diskNote(r, build.lastLines);
          const error = note === '' ? build.error : new ForgeError(build.error.code, `${build.error.message}${note}`, { details: build.error.details });
          return failure(r, error, build.exit, build.lastLines, mask);
        }
        io.onLine(`build finished in ${Date.now() - buildStarted} ms`);
        await cache.save().catch((error: unknown) => options.log(`could not keep the build cache of ${spec.name}: ${(error as Error).message}`));
        workDir = prepared.dir;
        commit = prepared.commit;
      }
      // Builds reach out (they fetch packages); the app only unless its spec says `egress: false`.
      if (spec.egress === false) await r.network?.closeEgress();

      let handle: InstanceHandle;
      let outcome: Awaited<ReturnType<typeof waitHealthy>>;
      const ownNamespace = r.network !== null && r.network !== undefined;
      // In an own namespace the port is forwarded on the agent's address only: probe it there.
      const probeHost = ownNamespace ? forwardedAddress(options.host) : '127.0.0.1';
      for (let attempt = 1; ; attempt += 1) {
        if (!ownNamespace) r.port = await options.ports.allocate();
        try {
          handle = await startInstance({
            id: r.id, workDir, command: spec.run?.command ?? '', port: r.port, env: spec.env, secrets: io.secrets,
            ...(image === undefined ? {} : { image: image.unpacked }),
            sandbox: limits(spec, options.pidsMax ?? 512, identity, r.network, spec.egress !== false), logDir: path.join(dir, 'logs'), onLine: shipper(undefined),
          });
        } catch (err) {
          // In an own network namespace the clash shows when the host side binds the port.
          if (!(err instanceof PortTakenError)) throw err;
          options.ports.release(r.port);
          if (attempt >= PORT_ATTEMPTS) {
            return failure(r, new ForgeError('E_PROVIDER', `could not start: ${err.message} (${PORT_ATTEMPTS} ports tried)`), null);
          }
          io.onLine(`${err.message}; starting again on another port`);
          continue;
        }
        r.handle = handle;
        outcome = await waitHealthy({
          port: r.port, host: probeHost, health: spec.health, signal, exited: handle.exited, tail: () => handle.tail(20), pids: () => handle.sandbox.pids(),
          listening: handle.listening,
          ...(options.startTimeoutMs === undefined ? {} : { startTimeoutMs: options.startTimeoutMs }),
        });
        if (signal.aborted || r.stopping) return abandoned(r);
        // The app died while another process holds its port (an outgoing connection took it
        // between our check and the app's listen): not the release's fault, so start it again
        // on another port rather than report E_HEALTH_FAILED, which marks the release bad.
        // (In an own namespace the app cannot collide on the host port: pasta holds it.)
        if (outcome.healthy || outcome.reason !== 'exited' || ownNamespace || attempt >= PORT_ATTEMPTS || await canBind(r.port, '0.0.0.0')) break;
        io.onLine(`port ${r.port} was taken by another process before the app listened; starting again on another port`);
        r.handle = undefined;
        await handle.stop(0);
        options.ports.release(r.port);
      }
      if (!outcome.healthy) {
        if (outcome.reason === 'exited') {
          r.handle = undefined;
          if (!ownNamespace && !(await canBind(r.port, '0.0.0.0'))) {
            return failure(r, new ForgeError('E_PROVIDER',
              `${outcome.message}: port ${r.port} was taken by another process before the app listened (${PORT_ATTEMPTS} ports tried)`), outcome.exit, outcome.lastLines, mask);
          }
          return failure(r, new ForgeError('E_HEALTH_FAILED', `${outcome.message}${await diskNote(r, outcome.lastLines)}`), outcome.exit, outcome.lastLines, mask);
        }
        r.stopping = true;
        await handle.stop(2_000);
        r.handle = undefined;
        r.stopping = false;
        return failure(r, new ForgeError('E_HEALTH_FAILED', outcome.message), null, handle.tail(20), mask);
      }
      r.state = 'running';
      r.health = 'healthy';
      r.healthySince = now();
      r.monitor = monitorHealth({
        port: r.port, host: probeHost, health: spec.health, listening: handle.listening,
        onChange: (status, reason) => {
          if (r.state !== 'running' && r.state !== 'unhealthy') return;
          r.state = status === 'healthy' ? 'running' : 'unhealthy';
          r.health = status;
          if (reason === null) delete r.reason;
          else r.reason = reason;
          options.onChange();
        },
      });
      watch(r, handle, mask);
      watchLimits(r, handle);
      options.onChange();
      io.onLine(`${spec.name} replica ${payload.replica} healthy on ${options.host}:${r.port}`);
      if (image !== undefined) void collectImages();
      return { ok: true, result: { message: 'healthy', instance: report(r), commit, ...(image === undefined ? {} : { imageDigest: image.digest }) } };
    } catch (thrown) {
      if (signal.aborted) return abandoned(r);
      if (r.handle) await teardown(r, 0);
      r.stopping = false;
      return failure(r, toForgeError(thrown, 'E_PROVIDER'), null, [], mask);
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

  /** A one-off (release command, forge run) of a service: its own sandbox, never an instance. */
  function oneOff(payload: OneOffPayload, io: OneOffIo): Promise<ResultRequest> {
    return runOneOff({
      dataDir: options.dataDir, runtimes: options.runtimes ?? [], identityOf: (service) => identities.forService(service),
      limits: (spec, identity) => limits(spec, options.buildPidsMax ?? 1024, identity, null),
      ...(options.bundleSource ? { bundleSource: options.bundleSource } : {}),
      ...(options.ship ? { ship: options.ship } : {}),
    }, payload, io);
  }

  /**
   * One cron run: the release is prepared and built as for an instance (same identity, limits,
   * network and disk), then the job's command runs once, without a port being routed or a health
   * check, until it exits, its timeout passes (SIGTERM, then SIGKILL) or the task is taken from
   * us (replaced or cancelled). Not in heartbeat reports: it is a task, not an instance.
   */
  async function runJob(payload: JobPayload, io: RunIo, graceMs: number): Promise<ResultRequest> {
    const spec = payload.spec;
    const r: InstanceRecord = {
      id: payload.instanceId, spec, payload: { instanceId: payload.instanceId, spec, hash: payload.hash, generation: 0, replica: 0 },
      state: 'starting', health: 'unknown', port: 0, restarts: 0, stopping: false, abort: new AbortController(),
    };
    const signal = AbortSignal.any([io.signal, r.abort.signal]);
    const dir = path.join(options.dataDir, 'jobs', r.id);
    const mask = createMasker(io.secrets);
    const ship = (build: string | undefined) => (line: string, stream: 'stdout' | 'stderr') =>
      options.ship?.({ instance: r.id, ...(build === undefined ? {} : { build }), stream, time: Date.now(), line: mask(line).slice(0, MAX_SHIPPED_LINE) });
    const failed = (code: string, message: string, lastLines: string[] = []): ResultRequest =>
      ({ ok: false, result: { code, message: capFailureMessage(mask(message)), lastLines: lastLines.slice(-50).map(mask), exitCode: null } });
    try {
      if (spec.sourceDir === undefined) return failed('E_BUILD_FAILED', `${spec.name}: agents run jobs of source-mode services only`);
      const networkProblem = await releaseNetwork(r, io);
      if (networkProblem !== null) return failed(networkProblem.code, networkProblem.message);
      const bundled = isBundleDigest(spec.revision) && options.bundleSource !== undefined;
      const source = bundled
        ? await options.bundleSource!(spec.revision!, signal)
        : await sourceForRevision(path.join(options.dataDir, 'sources'), spec.sourceDir, spec.revision);
      const identity = await identities.forService(spec.name);
      const prepared = await prepareWorkDir(source, await releaseDir(r, dir, identity), bundled ? source : spec.sourceDir);
      const cache = await prepareBuildCache(path.join(options.dataDir, 'build-cache'), spec.name, prepared.dir);
      await chownTree(prepared.dir, identity.hostUid, identity.hostGid);
      await fs.lchown(cache.dir, identity.hostUid, identity.hostGid);
      for (const d of cache.dirs) await chownTree(d, identity.hostUid, identity.hostGid);
      const runtime = spec.runtime === undefined ? undefined : findRuntime(spec.runtime, options.runtimes ?? []);
      const build = await runBuild({
        ...(runtime ? { pathFirst: path.dirname(runtime.path) } : {}),
        id: `build-${r.id}`, workDir: prepared.dir, commands: spec.build?.commands ?? [], env: { ...cache.env, ...spec.env }, secrets: io.secrets,
        sandbox: { ...limits(spec, options.buildPidsMax ?? 1024, identity, r.network), cacheDir: cache.dir }, logFile: path.join(dir, 'logs', 'build.log'),
        onLine: (line, stream) => { io.onLine(mask(line)); ship(`build_${r.id}`)(line, stream); }, signal,
      });
      if (signal.aborted) return failed('E_PROVIDER', `run ${payload.runId} was cancelled before it started`);
      if (!build.ok) return failed(build.error.code, build.error.message, build.lastLines);
      if (spec.egress === false) await r.network?.closeEgress();
      if (r.network === null) r.port = await options.ports.allocate();
      const env = { ...spec.env, FORGE_JOB: payload.job, FORGE_JOB_RUN: payload.runId, FORGE_JOB_SCHEDULED_AT: new Date(payload.scheduledAt).toISOString() };
      const handle = await startInstance({
        id: r.id, workDir: prepared.dir, command: payload.command, port: r.port, env, secrets: io.secrets,
        sandbox: limits(spec, options.pidsMax ?? 512, identity, r.network, spec.egress !== false), logDir: path.join(dir, 'logs'), onLine: ship(undefined),
      });
      r.handle = handle;
      const startedAt = Date.now();
      let timedOut = false;
      const timer = setTimeout(() => { timedOut = true; void handle.stop(graceMs); }, payload.timeoutMs);
      const onAbort = () => void handle.stop(graceMs);
      signal.addEventListener('abort', onAbort, { once: true });
      const exit = await handle.exited;
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      r.handle = undefined;
      const exitCode = timedOut || signal.aborted ? null : exitCodeOf(exit);
      const message = timedOut ? `timed out after ${payload.timeoutMs} ms and was stopped` : signal.aborted ? 'stopped (replaced or cancelled)' : exit.message;
      return { ok: exitCode === 0, result: { message: mask(message), exitCode, startedAt, timedOut, lastLines: handle.tail(20).map(mask) } };
    } catch (thrown) {
      const error = toForgeError(thrown, 'E_PROVIDER');
      return failed(error.code, error.message);
    } finally {
      // The job's disk is under jobs/, not instances/ where teardown looks: released here first.
      if (r.disk !== undefined) {
        r.disk = undefined;
        await releaseDisk(dir).catch((error: unknown) => options.log(`could not unmount the disk of job run ${r.id}: ${(error as Error).message}`));
      }
      await teardown(r, 0);
      await fs.rm(dir, { recursive: true, force: true }).catch(() => undefined);
    }
  }

  return {
    run,
    stop,
    oneOff,
    runJob,
    reports: (): InstanceReport[] => [...records.values()].map(report),
    /** The source revisions (bundle digests among them) of the instances this agent holds. */
    revisions: (): string[] => [...new Set([...records.values()].flatMap((r) => (r.spec.revision ? [r.spec.revision] : [])))],
    /** Bytes of the image cache (reported in heartbeats: `forge agents`). */
    imageBytes: (): Promise<number> => images.usageBytes(),
    collectImages,
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
