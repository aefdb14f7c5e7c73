// Row types for the table groups that store/types.ts (the fixed contract) does not cover:
// agent tasks, agents, webhook deployments and API keys.

import type { AgentRuntime } from '../specs/runtimes.ts';
import type { Phase } from './types.ts';

/** The status columns a no-op resync pass compares against DesiredSummary, for every service at once. */
export interface StatusSummary {
  name: string;
  phase: Phase;
  observedGeneration: number;
}

export type TaskKind = 'build' | 'run' | 'stop' | 'job';
export type TaskState = 'queued' | 'claimed' | 'running' | 'succeeded' | 'failed' | 'cancelled';

export interface TaskRow {
  id: string;
  kind: TaskKind;
  service: string;
  generation: number;
  replica: number;
  /** Target agent; null means any agent may claim it. */
  agentId: string | null;
  /** At most one queued/claimed/running task holds a given key (see TasksStore.enqueue). */
  dedupeKey: string | null;
  payload: unknown;
  state: TaskState;
  leaseOwner: string | null;
  /** Epoch ms; arithmetic happens on it, so it is not an ISO string. */
  leaseExpiresAt: number | null;
  attempts: number;
  /**
   * The leader term it was issued (or last re-issued) under: an agent that has seen a higher
   * term refuses it (fencing). 0 on SQLite, where there are no elections.
   */
  term: number;
  result: unknown;
  createdAt: string;
  updatedAt: string;
}

export interface TaskLogLine {
  seq: number;
  time: string;
  line: string;
}

export interface AgentCapacity {
  cpus: number;
  memoryBytes: number;
}

export interface AgentRow {
  id: string;
  name: string;
  tokenHash: string;
  addresses: string[];
  labels: Record<string, string>;
  capacity: AgentCapacity;
  /** Last reported usage, as the agent sent it (validated by the agent protocol, opaque here). */
  usage: unknown;
  /** Last reported per-instance states, as the agent sent them. */
  instances: unknown[];
  /** Language runtimes the agent found at start (reported when it registers). */
  runtimes: AgentRuntime[];
  online: boolean;
  /** Epoch ms of the last heartbeat (or registration); null before either. */
  lastSeenMs: number | null;
  /** When an operator revoked it (its credential is refused from then on); null while trusted. */
  revokedAt: string | null;
  createdAt: string;
  updatedAt: string;
}

export type DeploymentState = 'pending' | 'building' | 'deploying' | 'running' | 'failed';

export interface DeploymentRow {
  id: string;
  deliveryId: string;
  repo: string;
  branch: string;
  sha: string;
  state: DeploymentState;
  message: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface ApiKeyRow {
  id: string;
  name: string;
  /** Hash of the key; the key itself is never stored. */
  hash: string;
  /** First characters of the key, for people to tell keys apart in listings. */
  prefix: string;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}
