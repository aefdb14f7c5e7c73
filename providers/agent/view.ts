// Pure: the observed world of agent services, from what agents last reported
// plus the run tasks still in flight. A queued run task counts as an instance
// 'creating' and a claimed one as 'starting', so diff() never creates the same
// replica twice while an agent is still working on it. Instances on agents that
// are offline are not observed: they are lost, and get placed elsewhere.

import type { ObservedInstance } from '../types.ts';
import type { AgentRuntime } from '../../specs/runtimes.ts';
import type { ServiceSpec } from '../../specs/types.ts';
import type { TaskRow } from '../../store/rows.ts';
import type { InstanceReport, JobPayload, OneOffPayload, Resources, RunPayload, StopPayload } from '../../schemas/agent-protocol.ts';

export interface AgentState {
  id: string;
  online: boolean;
  capacity: Resources;
  /** See capacity.ts: false when the claim is beyond a plausible host. */
  capacityVerified?: boolean;
  /** Language runtimes the agent found at start (scheduling by a spec's `runtime`). */
  runtimes: AgentRuntime[];
  instances: InstanceReport[];
}

export interface ViewInstance extends ObservedInstance {
  agent: string;
  /**
   * The id the agent knows the instance by, when `id` is not it: a second copy of one
   * instance id on another agent is observed as `<id>@<agent>`, so the reconciler sees
   * it as the duplicate it is (and removes it) instead of never seeing it at all.
   */
  agentInstanceId?: string;
  /** The run task that is creating it, while no report names it yet. */
  taskId?: string;
  reserved: Resources;
  restarts: number;
  exitedAt?: number;
}

export const MB = 1024 * 1024;

export function reservationOf(spec: ServiceSpec | undefined): Resources {
  return spec ? { cpus: spec.resources.cpus, memoryBytes: spec.resources.memoryMb * MB } : { cpus: 0, memoryBytes: 0 };
}

export function isRunPayload(payload: unknown): payload is RunPayload {
  const p = payload as Partial<RunPayload> | null;
  return typeof p?.instanceId === 'string' && typeof p.hash === 'string' && typeof p.spec === 'object' && p.spec !== null;
}

export function isOneOffPayload(payload: unknown): payload is OneOffPayload {
  const p = payload as Partial<OneOffPayload> | null;
  return typeof p?.instanceId === 'string' && typeof p.command === 'string' && typeof p.timeoutMs === 'number'
    && typeof p.spec === 'object' && p.spec !== null && (p.purpose === 'release' || p.purpose === 'run');
}

export function isJobPayload(payload: unknown): payload is JobPayload {
  const p = payload as Partial<JobPayload> | null;
  return typeof p?.runId === 'string' && typeof p.instanceId === 'string' && typeof p.command === 'string'
    && typeof p.timeoutMs === 'number' && typeof p.scheduledAt === 'number' && typeof p.spec === 'object' && p.spec !== null;
}

export function isStopPayload(payload: unknown): payload is StopPayload {
  const p = payload as Partial<StopPayload> | null;
  return typeof p?.instanceId === 'string' && typeof p.remove === 'boolean';
}

export function buildView(
  agents: Iterable<AgentState>,
  activeTasks: Iterable<TaskRow>,
  specOf: (hash: string) => ServiceSpec | undefined,
): Map<string, ViewInstance[]> {
  const online = new Map<string, AgentState>();
  for (const agent of agents) if (agent.online) online.set(agent.id, agent);
  const tasks = [...activeTasks];
  // Only a keep-stop shows as 'stopping'. An instance on its way out (remove) keeps its
  // state, so diff still ranks it as what it is (failed, old) and never revives it.
  const stopping = new Set(tasks
    .filter((t) => t.kind === 'stop' && isStopPayload(t.payload) && !t.payload.remove)
    .map((t) => `${t.agentId ?? ''}/${(t.payload as StopPayload).instanceId}`));

  const byKey = new Map<string, ViewInstance[]>();
  const seen = new Set<string>();
  const held = new Set<string>(); // agent/instance id pairs already observed
  const add = (instance: ViewInstance) => {
    seen.add(instance.id);
    held.add(`${instance.agent}/${instance.agentInstanceId ?? instance.id}`);
    const list = byKey.get(instance.key) ?? [];
    list.push(instance);
    byKey.set(instance.key, list);
  };

  // One instance id must live on one agent. Should two agents report it, the liveliest
  // copy keeps the id and every other copy is observed under its own, so it is removed.
  const copies = new Map<string, Array<{ report: InstanceReport; agentId: string }>>();
  for (const agent of online.values()) {
    for (const report of agent.instances) copies.set(report.id, [...(copies.get(report.id) ?? []), { report, agentId: agent.id }]);
  }
  // A start of a kept (stopped) instance is a run task for the id its agent still reports
  // as stopped: until the agent picks it up, the instance is on its way up, not idle.
  const starting = new Map<string, TaskRow>();
  for (const task of tasks) {
    if (task.kind === 'run' && isRunPayload(task.payload) && task.agentId !== null) starting.set(`${task.agentId}/${task.payload.instanceId}`, task);
  }
  const withStart = (instance: ViewInstance): ViewInstance => {
    const task = starting.get(`${instance.agent}/${instance.agentInstanceId ?? instance.id}`);
    if (!task || instance.state !== 'stopped') return instance;
    return { ...instance, state: task.state === 'queued' ? 'creating' : 'starting', health: 'unknown', taskId: task.id };
  };
  for (const [id, list] of copies) {
    const [first, ...rest] = [...list].sort((a, b) => liveliness(a.report) - liveliness(b.report) || compareIds(a.agentId, b.agentId));
    add(withStart(fromReport(first!.report, first!.agentId, specOf(first!.report.hash), stopping.has(`${first!.agentId}/${id}`))));
    for (const copy of rest) {
      const extra = fromReport(copy.report, copy.agentId, specOf(copy.report.hash), stopping.has(`${copy.agentId}/${id}`));
      add(withStart({ ...extra, id: `${id}@${copy.agentId}`, agentInstanceId: id }));
    }
  }
  for (const task of tasks) {
    if (task.kind !== 'run' || !isRunPayload(task.payload)) continue;
    const payload = task.payload;
    if (task.agentId === null || !online.has(task.agentId) || held.has(`${task.agentId}/${payload.instanceId}`)) continue;
    // A run for an id another agent already holds is a second copy in the making.
    const copy = seen.has(payload.instanceId);
    add({
      id: copy ? `${payload.instanceId}@${task.agentId}` : payload.instanceId,
      ...(copy ? { agentInstanceId: payload.instanceId } : {}),
      key: task.service,
      replica: payload.replica,
      hash: payload.hash,
      generation: payload.generation,
      spec: payload.spec,
      region: payload.spec.region,
      state: task.state === 'queued' ? 'creating' : 'starting',
      health: 'unknown',
      agent: task.agentId,
      taskId: task.id,
      reserved: reservationOf(payload.spec),
      restarts: 0,
    });
  }
  for (const list of byKey.values()) list.sort((a, b) => a.replica - b.replica || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return byKey;
}

function fromReport(report: InstanceReport, agentId: string, spec: ServiceSpec | undefined, stopping: boolean): ViewInstance {
  const base: ViewInstance = {
    id: report.id,
    key: report.service,
    replica: report.replica,
    hash: report.hash,
    generation: report.generation,
    region: report.region ?? spec?.region ?? '',
    state: 'running',
    health: report.health,
    agent: agentId,
    address: report.address,
    reserved: report.reserved ?? reservationOf(spec),
    restarts: report.restarts ?? 0,
  };
  if (spec) base.spec = spec;
  if (report.exitedAt !== undefined) base.exitedAt = report.exitedAt;
  switch (report.state) {
    case 'starting':
      base.state = 'starting';
      base.health = 'unknown';
      break;
    case 'unhealthy':
      base.health = 'unhealthy';
      if (report.reason !== undefined) base.reason = report.reason;
      break;
    case 'exited':
      base.state = 'failed';
      base.health = 'unhealthy';
      if (report.exitCode !== undefined) base.exitCode = report.exitCode;
      if (report.oomKilled !== undefined) base.oomKilled = report.oomKilled;
      base.reason = exitReason(report);
      break;
    case 'stopped':
      base.state = 'stopped';
      base.health = 'unknown';
      break;
    case 'running':
      break;
  }
  // A stop on its way: the instance is going, not to be acted on again.
  if (stopping && base.state !== 'stopped') base.state = 'stopping';
  return base;
}

/** Lower is livelier: the copy of a doubly reported instance that keeps its id. */
function liveliness(report: InstanceReport): number {
  switch (report.state) {
    case 'running': return report.health === 'healthy' ? 0 : 1;
    case 'starting': return 2;
    case 'unhealthy': return 3;
    case 'stopped': return 4;
    case 'exited': return 5;
  }
}

function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function exitReason(report: InstanceReport): string {
  const what = report.reason ?? (report.exitCode === undefined ? 'exited' : `exited with code ${report.exitCode}`);
  const restarts = report.restarts ?? 0;
  return restarts > 1 ? `${what} (crashed ${restarts} times in a row)` : what;
}

/** Strips the provider's bookkeeping, leaving the contract's shape. */
export function toObserved(instance: ViewInstance): ObservedInstance {
  const { taskId: _t, reserved: _r, agentInstanceId: _a, restarts, exitedAt, ...observed } = instance;
  // The slot's crash count goes with an exit: the reconciler's CrashLoopBackOff input.
  return exitedAt === undefined ? observed : { ...observed, restarts, exitedAt };
}
