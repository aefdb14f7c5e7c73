// Pure: the observed world of agent services, from what agents last reported
// plus the run tasks still in flight. A queued run task counts as an instance
// 'creating' and a claimed one as 'starting', so diff() never creates the same
// replica twice while an agent is still working on it. Instances on agents that
// are offline are not observed: they are lost, and get placed elsewhere.

import type { ObservedInstance } from '../types.ts';
import type { ServiceSpec } from '../../specs/types.ts';
import type { TaskRow } from '../../store/rows.ts';
import type { InstanceReport, Resources, RunPayload, StopPayload } from './protocol.ts';

export interface AgentState {
  id: string;
  online: boolean;
  capacity: Resources;
  /** See capacity.ts: false when the claim is beyond a plausible host. */
  capacityVerified?: boolean;
  instances: InstanceReport[];
}

export interface ViewInstance extends ObservedInstance {
  agent: string;
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
    .map((t) => (t.payload as StopPayload).instanceId));

  const byKey = new Map<string, ViewInstance[]>();
  const seen = new Set<string>();
  const add = (instance: ViewInstance) => {
    seen.add(instance.id);
    const list = byKey.get(instance.key) ?? [];
    list.push(instance);
    byKey.set(instance.key, list);
  };

  for (const agent of online.values()) {
    for (const report of agent.instances) {
      if (seen.has(report.id)) continue; // the same id on two agents: the first (by id order) wins
      add(fromReport(report, agent.id, specOf(report.hash), stopping.has(report.id)));
    }
  }
  for (const task of tasks) {
    if (task.kind !== 'run' || !isRunPayload(task.payload)) continue;
    const payload = task.payload;
    if (seen.has(payload.instanceId)) continue;
    if (task.agentId === null || !online.has(task.agentId)) continue;
    add({
      id: payload.instanceId,
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

function exitReason(report: InstanceReport): string {
  const what = report.reason ?? (report.exitCode === undefined ? 'exited' : `exited with code ${report.exitCode}`);
  const restarts = report.restarts ?? 0;
  return restarts > 1 ? `${what} (crashed ${restarts} times in a row)` : what;
}

/** Strips the provider's bookkeeping, leaving the contract's shape. */
export function toObserved(instance: ViewInstance): ObservedInstance {
  const { taskId: _t, reserved: _r, restarts, exitedAt, ...observed } = instance;
  // The slot's crash count goes with an exit: the reconciler's CrashLoopBackOff input.
  return exitedAt === undefined ? observed : { ...observed, restarts, exitedAt };
}
