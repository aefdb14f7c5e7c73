// The control plane's side of worker agents as a Provider. observe() reads an
// in-memory view built from agents' heartbeats and the run tasks in flight; apply()
// places a replica with the scheduler and queues a task for the chosen agent.
// Nothing here talks to an agent directly: agents claim tasks and report back
// through api/agent-routes.ts, which feeds this provider through its hub.

import { randomBytes } from 'node:crypto';
import { ForgeError } from '../../errors/index.ts';
import type { ServiceSpec } from '../../specs/types.ts';
import type { Store } from '../../store/index.ts';
import type { TaskRow } from '../../store/rows.ts';
import { place } from './placement.ts';
import type { Action, ApplyContext, ApplyResult, Observed, OneOffContext, OneOffRequest, OneOffResult, Provider, ProviderEvent } from '../types.ts';
import { followOneOff, oneOffPayload } from './one-off.ts';
import { createTaskBell } from './bell.ts';
import type { AgentHub } from './hub.ts';
import { capacityVerified } from './capacity.ts';
import { agentFeatureNeeded, IMAGE_RUNTIME } from '../../specs/runtimes.ts';
import { isImageDigest } from '../../specs/image-ref.ts';
import { sweepOfflineAgents } from './offline.ts';
import { DEFAULT_LEASE_MS, type InstanceReport, type Resources, type RunPayload, type StopPayload } from '../../schemas/agent-protocol.ts';
import {
  buildView, isRunPayload, isStopPayload, reservationOf, toObserved, type AgentState, type ViewInstance,
} from './view.ts';

export interface AgentProviderOptions {
  store: Store;
  now?: () => number;
  /** An agent silent for longer is offline (e.g. 3 × its heartbeat interval). */
  heartbeatTimeoutMs: number;
  leaseMs?: number;
  /** When set, each observed service reports the URL `http://<key>.<domain>` (the router serves it). */
  domain?: string;
  /** resync() without force does nothing more often than this. */
  resyncMinIntervalMs?: number;
}

export interface AgentProvider extends Provider {
  readonly hub: AgentHub;
  readonly leaseMs: number;
}

type RunAction = Extract<Action, { kind: 'create' | 'replace' | 'start' }>;

const EVENTS_KEPT = 100;
/** Succeeded releases whose images an agent keeps cached for a rollback without the registry. */
const ROLLBACK_IMAGES_KEPT = 3;
const feature = agentFeatureNeeded;

export function createAgentProvider(options: AgentProviderOptions): AgentProvider {
  const { store } = options;
  const now = options.now ?? Date.now;
  const leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
  const bell = createTaskBell();
  const listeners = new Set<(key: string) => void>();
  const events = new Map<string, ProviderEvent[]>();
  const agents = new Map<string, AgentState>();
  const tasks = new Map<string, TaskRow>();
  const specs = new Map<string, ServiceSpec>();
  let view: Map<string, ViewInstance[]> | null = null;
  let lastResync = Number.NEGATIVE_INFINITY;
  // Heartbeats sent while this control plane was down went nowhere: an agent is
  // judged on the ones it could reach us with, so none goes offline (and has its
  // work cancelled and placed again) before a whole timeout has passed since start.
  const startedAt = now();

  function specOf(hash: string): ServiceSpec | undefined {
    return specs.get(hash);
  }

  /** Learns the spec behind an instance's hash once (from its release), never per observe. */
  function learnSpec(report: InstanceReport): void {
    if (specs.has(report.hash)) return;
    const release = store.releases.get(report.service, report.generation);
    if (release && release.hash === report.hash) specs.set(report.hash, release.spec);
  }

  function currentView(): Map<string, ViewInstance[]> {
    view ??= buildView(agents.values(), tasks.values(), specOf);
    return view;
  }

  function signatures(): Map<string, string> {
    const out = new Map<string, string>();
    for (const [key, list] of currentView()) {
      out.set(key, list.map((i) => `${i.id}:${i.state}:${i.health}:${i.hash}:${i.agent}`).join('|'));
    }
    return out;
  }

  /** Applies a change to the cache and nudges every key whose observed instances moved. */
  function mutate(change: () => void): void {
    const before = signatures();
    change();
    view = null;
    const after = signatures();
    for (const key of new Set([...before.keys(), ...after.keys()])) {
      if (before.get(key) !== after.get(key)) for (const listener of listeners) listener(key);
    }
  }

  function record(key: string, event: Omit<ProviderEvent, 'key' | 'time' | 'source'>): void {
    const list = events.get(key) ?? [];
    list.push({ key, time: now(), source: 'agent', ...event });
    if (list.length > EVENTS_KEPT) list.splice(0, list.length - EVENTS_KEPT);
    events.set(key, list);
  }

  function trackTask(task: TaskRow): void {
    if (task.state === 'queued' || task.state === 'claimed' || task.state === 'running') tasks.set(task.id, task);
    else tasks.delete(task.id);
  }

  // A task result can be newer than the agent's last stored heartbeat: a reload must not
  // take the instance back to what that older heartbeat said (a route would flap to it).
  const resultAt = new Map<string, number>();

  function reload(): void {
    const previous = new Map(agents);
    agents.clear();
    for (const row of store.agents.list()) {
      const newer = (resultAt.get(row.id) ?? -1) > (row.lastSeenMs ?? 0) ? previous.get(row.id) : undefined;
      const instances = newer ? newer.instances : row.instances as InstanceReport[];
      instances.forEach(learnSpec);
      agents.set(row.id, { id: row.id, online: row.online, capacity: row.capacity, capacityVerified: capacityVerified(row.capacity), runtimes: row.runtimes, instances });
    }
    tasks.clear();
    for (const task of store.tasks.listActive()) {
      if (task.kind === 'run' && isRunPayload(task.payload)) specs.set(task.payload.hash, task.payload.spec);
      trackTask(task);
    }
  }

  reload();

  function enqueue(kind: 'run' | 'stop', key: string, generation: number, replica: number, agentId: string,
    payload: RunPayload | StopPayload, dedupeKey: string): TaskRow {
    const task = store.tasks.enqueue({ kind, service: key, generation, replica, agentId, payload, dedupeKey });
    if (tasks.has(task.id)) return task; // the same work is already queued or under way
    mutate(() => trackTask(task));
    record(key, { instanceId: payload.instanceId, type: `${kind} task`, status: `queued for ${agentId}` });
    bell.ring(agentId);
    return task;
  }

  /**
   * An image spec that names only a tag (written without pinning: FORGE_IMAGE_PINNING=agent, or
   * before pinning existed) runs the digest an agent already resolved for this release, when one
   * did: every replica, restart and move of a release runs the same bytes.
   */
  function withReleaseDigest(key: string, spec: ServiceSpec, hash: string, generation: number): ServiceSpec {
    if (spec.image === undefined || spec.revision !== undefined) return spec;
    const release = store.releases.get(key, generation);
    return release?.hash === hash && isImageDigest(release.spec.revision) ? { ...spec, revision: release.spec.revision } : spec;
  }

  function run(action: RunAction, given: ServiceSpec, hash: string, generation: number, replica: number): ApplyResult {
    const spec = withReleaseDigest(action.key, given, hash, generation);
    const feature = agentFeatureNeeded(spec);
    if (feature === undefined && (spec.sourceDir === undefined || spec.run === undefined)) {
      throw new ForgeError('E_SPEC_INVALID',
        `${action.key}: agents run source-mode services (build.commands + run.command from a source directory), images and Dockerfiles; this spec has none of them`, { terminal: true });
    }
    specs.set(hash, spec);
    const instances = currentView().get(action.key) ?? [];
    const replacing = action.kind === 'replace' ? action.instanceId : undefined;
    const same = instances.find((i) => i.replica === replica && i.hash === hash && i.id !== replacing && i.state !== 'failed'
      && i.state !== 'stopping' && i.state !== 'stopped');
    if (same && action.kind !== 'start') return { instanceId: same.id, message: 'already exists' };

    const request = {
      key: action.key, replica, ...reservationOf(spec), ...(spec.runtime === undefined ? {} : { runtime: spec.runtime }),
      ...(feature === undefined ? {} : { feature }),
    };
    const kept = action.kind === 'start' ? instances.find((i) => i.id === action.instanceId) : undefined;
    if (kept) {
      if (kept.state === 'stopping') return { instanceId: kept.id, message: `still stopping on ${kept.agent}; it starts once stopped` };
      if (kept.state !== 'stopped' && kept.state !== 'failed') return { instanceId: kept.id, message: `already ${kept.state} on ${kept.agent}` };
      // A kept instance starts again where it is kept, under its own id: starting it anywhere
      // else would leave its stopped copy behind, and two agents holding one id.
      const holder = agents.get(kept.agent);
      const home = holder ? place([request], [holder], reservations(kept.id)).placements[0] : undefined;
      if (home) return queueRun(action.key, { instanceId: kept.agentInstanceId ?? kept.id, spec, hash, generation, replica, ...retained(action.key, spec) }, home.agentId);
    }
    const { placements, unschedulable } = place([request], [...agents.values()], reservations(kept?.id));
    const placed = placements[0];
    if (!placed) {
      const reason = unschedulable[0]?.reason ?? 'no agent fits';
      throw new ForgeError('E_UNSCHEDULABLE', `cannot place ${action.key} replica ${replica}: ${reason}`, {
        details: { key: action.key, replica, reason },
      });
    }
    const instanceId = `inst_${randomBytes(8).toString('hex')}`;
    const result = queueRun(action.key, { instanceId, spec, hash, generation, replica, ...retained(action.key, spec) }, placed.agentId);
    if (!kept) return result;
    // Its agent has no room for it any more: it moves, as a new instance, and the kept one is forgotten.
    stopInstance(action.key, kept, true);
    record(action.key, { instanceId: kept.id, type: 'moved', status: `no room on ${kept.agent} any more; replaced by ${result.instanceId} on ${placed.agentId}` });
    return { ...result, message: `${kept.agent} has no room for it any more: ${result.message} as ${result.instanceId}` };
  }

  /**
   * For an image spec: the digests of its service's recent succeeded releases (its rollback
   * targets), which the agent's image garbage collection keeps (agent/image/gc.ts). For a
   * Dockerfile spec the same list holds those releases' source revisions (bundle digests),
   * whose builds the agent's build stores keep (agent/image/build-stores.ts).
   */
  function retained(key: string, spec: ServiceSpec): { retainImages?: string[] } {
    if (feature(spec) === undefined) return {};
    const digests = store.releases.list(key)
      .filter((r) => r.outcome === 'succeeded' && isImageDigest(r.spec.revision))
      .slice(0, ROLLBACK_IMAGES_KEPT)
      .map((r) => r.spec.revision!);
    return { retainImages: [...new Set(digests)] };
  }

  /** What every live instance (but `except`) holds on its agent: stopped and failed ones hold nothing. */
  function reservations(except?: string) {
    return [...currentView().values()].flat()
      .filter((i) => i.state !== 'failed' && i.state !== 'stopped' && i.id !== except)
      .map((i) => ({ agentId: i.agent, key: i.key, replica: i.replica, ...i.reserved }));
  }

  function queueRun(key: string, payload: RunPayload, agentId: string): ApplyResult {
    const task = enqueue('run', key, payload.generation, payload.replica, agentId, payload,
      `run:${key}:${payload.replica}:${payload.hash}`);
    const queued = task.payload as RunPayload;
    return { instanceId: queued.instanceId, message: `placed on ${agentId}` };
  }

  function stopInstance(key: string, instance: ViewInstance, remove: boolean): void {
    const task = instance.taskId === undefined ? undefined : tasks.get(instance.taskId);
    if (task) {
      // Not reported yet: cancel the run; an agent already working on it is told to stop it too.
      store.tasks.cancel(task.id);
      mutate(() => tasks.delete(task.id));
      if (task.state === 'queued') return;
    }
    const instanceId = instance.agentInstanceId ?? instance.id;
    const payload: StopPayload = { instanceId, remove };
    enqueue('stop', key, instance.generation, instance.replica, instance.agent, payload,
      `stop:${instance.agent}:${instanceId}:${remove ? 'remove' : 'keep'}`);
  }

  const hub: AgentHub = {
    heartbeatReceived(agentId, report) {
      report.instances.forEach(learnSpec);
      resultAt.delete(agentId);
      mutate(() => {
        const previous = agents.get(agentId);
        if (previous) noteExits(previous.instances, report.instances);
        agents.set(agentId, { id: agentId, online: true, capacity: report.capacity, capacityVerified: capacityVerified(report.capacity), runtimes: previous?.runtimes ?? store.agents.get(agentId)?.runtimes ?? [], instances: report.instances });
      });
    },
    agentRegistered(agentId, instances) {
      const row = store.agents.get(agentId);
      if (!row) return;
      instances.forEach(learnSpec);
      resultAt.delete(agentId);
      mutate(() => {
        // What it held before and no longer reports died with the agent's last run: those
        // instances are gone now, not whenever a heartbeat would have said so.
        const kept = new Set(instances.map((i) => i.id));
        for (const i of agents.get(agentId)?.instances ?? []) {
          if (!kept.has(i.id) && i.state !== 'exited' && i.state !== 'stopped') {
            record(i.service, { instanceId: i.id, type: 'agent restarted', status: `${agentId} registered again without it` });
          }
        }
        agents.set(agentId, { id: agentId, online: true, capacity: row.capacity, capacityVerified: capacityVerified(row.capacity), runtimes: row.runtimes, instances });
        // The routes cancelled what it had claimed (see agent-routes register).
        for (const [id, task] of tasks) if (task.leaseOwner === agentId && task.state !== 'queued') tasks.delete(id);
      });
    },
    taskClaimed(task) {
      mutate(() => trackTask(task));
      record(task.service, { type: `${task.kind} task`, status: `claimed by ${task.leaseOwner ?? 'an agent'} (attempt ${task.attempts})` });
    },
    taskCompleted(task, ok, result) {
      // The digest an agent resolved from a tag is recorded on its release (store/releases.ts recordImageDigest).
      if (ok && task.kind === 'run' && isRunPayload(task.payload) && isImageDigest(result?.imageDigest)) {
        store.releases.recordImageDigest(task.service, task.payload.generation, task.payload.hash, result.imageDigest);
      }
      mutate(() => {
        trackTask(task);
        const instance = result?.instance;
        const agent = task.agentId === null ? undefined : agents.get(task.agentId);
        if (instance && agent) {
          learnSpec(instance);
          agent.instances = [...agent.instances.filter((i) => i.id !== instance.id), instance];
          resultAt.set(agent.id, now());
        } else if (ok && agent && task.kind === 'stop' && isStopPayload(task.payload)) {
          // A finished stop is as good as the heartbeat that will confirm it: until that comes,
          // the last report (running) must not make the instance look alive again.
          const { instanceId, remove } = task.payload;
          agent.instances = agent.instances.flatMap((i) => (i.id !== instanceId ? [i]
            : remove ? [] : [{ ...i, state: 'stopped' as const, health: 'unknown' as const, port: 0, address: '' }]));
          resultAt.set(agent.id, now());
        }
      });
      record(task.service, {
        instanceId: result?.instance?.id, type: `${task.kind} task`,
        status: ok ? 'succeeded' : `failed: ${result?.code ?? 'E_PROVIDER'}: ${result?.message ?? 'no reason given'}`,
      });
    },
    waitForTask: (agentId, ms, signal) => bell.wait(agentId, ms, signal),
  };

  function noteExits(before: readonly InstanceReport[], after: readonly InstanceReport[]): void {
    const was = new Map(before.map((i) => [i.id, i.state]));
    const hitsBefore = new Map(before.map((i) => [i.id, i.pidsLimitHits ?? 0]));
    for (const i of after) {
      // A fork bomb held at pids.max leaves the instance running and healthy: only this says so.
      const hits = i.pidsLimitHits ?? 0;
      if (hits > (hitsBefore.get(i.id) ?? 0)) {
        record(i.service, { instanceId: i.id, type: 'pids-limit', status: `fork refused at the process limit (${hits} times since start)` });
      }
      if (i.state === 'exited' && was.get(i.id) !== 'exited') {
        record(i.service, {
          instanceId: i.id, type: 'exit', status: i.reason ?? 'exited',
          ...(i.exitCode === undefined ? {} : { exitCode: i.exitCode }), ...(i.oomKilled ? { oomKilled: true } : {}),
        });
      }
    }
  }

  return {
    name: 'agent',
    // Images only while some agent reported that it can run them (agents.runtimes): the API
    // and the dashboard then stop offering images on `agent` when none can.
    capabilities: {
      updateInPlace: false, runsSource: true, routing: 'forge', pinsImages: true, oneOffs: true,
      get runsImages() { return [...agents.values()].some((a) => a.runtimes.some((r) => r.name === IMAGE_RUNTIME)); },
    },
    hub,
    leaseMs,
    async observe(keys) {
      const current = currentView();
      const wanted = keys ?? [...current.keys()].sort();
      const out: Observed[] = [];
      for (const key of wanted) {
        const list = current.get(key);
        if (!list || list.length === 0) continue;
        const observed: Observed = { key, instances: list.map(toObserved) };
        if (options.domain) observed.url = `http://${key}.${options.domain}`;
        out.push(observed);
      }
      return out;
    },
    async apply(action: Action, _ctx: ApplyContext): Promise<ApplyResult> {
      // Secret values never go into the task row (plaintext JSON): the claim route
      // fetches them for the agent over its authenticated channel.
      switch (action.kind) {
        case 'create':
        case 'replace':
          return run(action, action.spec, action.hash, action.generation, action.replica);
        case 'start': {
          const instance = (currentView().get(action.key) ?? []).find((i) => i.id === action.instanceId);
          if (!instance?.spec) throw new ForgeError('E_PROVIDER', `instance ${action.instanceId} of ${action.key} is gone or its spec is unknown`);
          return run(action, instance.spec, instance.hash, instance.generation, instance.replica);
        }
        case 'stop':
        case 'destroy': {
          const list = currentView().get(action.key) ?? [];
          const targets = action.instanceId === undefined ? list : list.filter((i) => i.id === action.instanceId);
          for (const instance of targets) stopInstance(action.key, instance, action.kind === 'destroy');
          return action.instanceId === undefined ? { message: `${targets.length} instance(s) stopping` } : { instanceId: action.instanceId };
        }
        case 'update':
          throw new ForgeError('E_PROVIDER', 'agent instances cannot be updated in place; the reconciler replaces them', { terminal: true });
        case 'noop':
          return {};
        case 'error':
          // A refused change (diff's error action) is never executed, by any provider.
          throw new ForgeError(action.code, action.reason);
      }
    },
    async runOneOff(request: OneOffRequest, ctx: OneOffContext): Promise<OneOffResult> {
      const { spec } = request;
      if (spec.sourceDir === undefined || spec.run === undefined) {
        throw new ForgeError('E_SPEC_INVALID', `${request.key}: agents run one-offs of source-mode services only`, { terminal: true });
      }
      // Placed like a replica (capacity, runtime), beside whatever the service runs now.
      const placement = { key: `${request.key}#${request.runId}`, replica: 0, ...reservationOf(spec), ...(spec.runtime === undefined ? {} : { runtime: spec.runtime }) };
      const { placements, unschedulable } = place([placement], [...agents.values()], reservations());
      const placed = placements[0];
      if (!placed) {
        throw new ForgeError('E_UNSCHEDULABLE', `cannot place a one-off of ${request.key}: ${unschedulable[0]?.reason ?? 'no agent fits'}`);
      }
      const task = store.tasks.enqueue({
        kind: 'build', service: request.key, generation: request.generation, replica: 0, agentId: placed.agentId,
        payload: oneOffPayload(request), dedupeKey: `one-off:${request.runId}`,
      });
      record(request.key, { type: `${request.purpose === 'release' ? 'release command' : 'one-off'} task`, status: `queued for ${placed.agentId}` });
      bell.ring(placed.agentId);
      return followOneOff({ store, now }, task, ctx, request.detach === true);
    },
    async events(key) {
      return [...(events.get(key) ?? [])];
    },
    async resync(force = false) {
      const t = now();
      if (!force && t - lastResync < (options.resyncMinIntervalMs ?? 1_000)) return;
      lastResync = t;
      const lost = t - startedAt < options.heartbeatTimeoutMs ? [] : sweepOfflineAgents(store, t, options.heartbeatTimeoutMs);
      for (const id of lost) {
        for (const i of agents.get(id)?.instances ?? []) record(i.service, { instanceId: i.id, type: 'agent lost', status: `${id} missed its heartbeats` });
      }
      mutate(reload);
    },
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
