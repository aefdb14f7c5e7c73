// What the agent protocol routes tell the control plane's agent provider, and
// what they ask of it. Routes write the store first and then call the hub, so the
// provider's cache and onChange nudges follow every agent report.

import type { TaskRow } from '../../store/rows.ts';
import type { HeartbeatRequest, InstanceReport, ResultRequest } from '../../schemas/agent-protocol.ts';

export interface AgentHub {
  heartbeatReceived(agentId: string, report: HeartbeatRequest): void;
  /**
   * A registration or re-registration (the agent is online again, maybe with a new
   * capacity), with the instances it holds now: none after a restart. The tasks it had
   * claimed are already cancelled in the store.
   */
  agentRegistered(agentId: string, instances: InstanceReport[]): void;
  taskClaimed(task: TaskRow): void;
  taskCompleted(task: TaskRow, ok: boolean, result: ResultRequest['result']): void;
  /** Long-poll helper: resolves when work may be waiting for `agentId`, after `ms`, or on abort. */
  waitForTask(agentId: string, ms: number, signal?: AbortSignal): Promise<void>;
}
