// The agent protocol's message shapes, shared by the control plane (api/agent-routes.ts,
// providers/agent/) and the daemon (agent/). schemas/agent-*.schema.json describe the
// same bodies for validation and as reference docs.

import type { AgentRuntime } from '../specs/runtimes.ts';
import type { ServiceSpec } from '../specs/types.ts';

export interface Resources {
  cpus: number;
  memoryBytes: number;
}

export interface RegisterRequest {
  name: string;
  /** Set when the agent re-registers with the id it was given before (kept in its data dir). */
  id?: string;
  addresses?: string[];
  labels?: Record<string, string>;
  capacity: Resources;
  version?: string;
  /**
   * What the agent holds as it registers: [] after a start (it sweeps what a crashed run
   * left first), its live instances on a re-registration. Absent counts as [].
   */
  instances?: InstanceReport[];
  /** Language runtimes found on the agent's PATH at start (absent counts as none). */
  runtimes?: AgentRuntime[];
}

export interface RegisterResponse {
  id: string;
  /** The per-agent secret for every later call; the control plane keeps only its hash. */
  token: string;
  heartbeatIntervalMs: number;
  leaseMs: number;
}

export type ReportedState = 'starting' | 'running' | 'unhealthy' | 'exited' | 'stopped';

export interface InstanceReport {
  id: string;
  service: string;
  replica: number;
  generation: number;
  hash: string;
  /** Region label of the spec the instance runs (agents are region-less). */
  region?: string;
  state: ReportedState;
  exitCode?: number;
  oomKilled?: boolean;
  /** Forks refused by the instance's process limit (pids.max) since it started; see the schema. */
  pidsLimitHits?: number;
  reason?: string;
  /** Abnormal exits of this replica slot on this agent in a row (CrashLoopBackOff input). */
  restarts?: number;
  /** Epoch ms of the last exit, when exited. */
  exitedAt?: number;
  port: number;
  /** host:port the instance answers on. */
  address: string;
  health: 'unknown' | 'healthy' | 'unhealthy';
  /** What the instance reserves on the agent (from its spec). */
  reserved?: Resources;
}

export interface HeartbeatRequest {
  capacity: Resources;
  usage: Resources;
  processes: number;
  instances: InstanceReport[];
  /** Agent clock, epoch ms (for skew diagnostics only). */
  time: number;
  /** Bytes its image cache takes on disk (absent: no image cache). */
  imageBytes?: number;
}

export interface HeartbeatResponse {
  ok: true;
  heartbeatIntervalMs: number;
  /** The leader term in the control plane's database now (fencing; absent from an older control plane). */
  term?: number;
}

export interface ClaimRequest {
  /** How long the control plane may hold the request open waiting for work (ms, capped). */
  waitMs?: number;
}

/** A `run` task's payload: stored in plaintext, so it never holds secret values. */
export interface RunPayload {
  instanceId: string;
  spec: ServiceSpec;
  hash: string;
  generation: number;
  replica: number;
  /** Image digests of the service's rollback targets (recent succeeded releases): the agent's image GC keeps them. */
  retainImages?: string[];
}

/**
 * A `build` task's payload: a one-off (a release command, `forge run`). The agent builds the
 * release's output in a fresh work dir, runs `command` there in its own sandbox, and removes
 * everything. `instanceId` is the run's id (its shipped output is filed under it). No secret values.
 */
export interface OneOffPayload {
  instanceId: string;
  purpose: 'release' | 'run';
  spec: ServiceSpec;
  hash: string;
  generation: number;
  command: string;
  timeoutMs: number;
}

/** A `job` task's payload (one cron run or manual trigger): plaintext, so never a secret value. */
export interface JobPayload {
  runId: string;
  /** Names the sandbox and the run's output in the log store. */
  instanceId: string;
  job: string;
  /** The tick this run is for (epoch ms); the command sees it as FORGE_JOB_SCHEDULED_AT. */
  scheduledAt: number;
  command: string;
  timeoutMs: number;
  /** The service's current release: its source, build and environment. */
  spec: ServiceSpec;
  hash: string;
}

export interface StopPayload {
  instanceId: string;
  /** true: forget the instance (destroy); false: keep it as stopped (stop). */
  remove: boolean;
}

export interface ClaimedTask {
  id: string;
  kind: 'run' | 'stop' | 'build' | 'job';
  service: string;
  generation: number;
  replica: number;
  attempts: number;
  /**
   * The leader term the task was issued under. An agent whose current term (the latest response's
   * `term`) is higher refuses it: it reports the result `E_FENCED` and does not run it.
   */
  term: number;
  leaseMs: number;
  leaseExpiresAt: number;
  payload: RunPayload | StopPayload | JobPayload | unknown;
}

export interface ClaimResponse {
  task: ClaimedTask;
  /** The leader term in the control plane's database when the task was handed out. */
  term: number;
  /** Decrypted secret values for a run task, only ever sent on this authenticated response. */
  secrets: Record<string, string>;
  /** Registry credentials for an image task's registry host (host → user, password); same rules as secrets. */
  registry?: Record<string, { username: string; password: string }>;
}

/** POST /api/agents/:id/logs (schemas/agent-logs.schema.json). */
export interface LogsRequest {
  lines: ShippedLine[];
}

export interface ShippedLine {
  instance: string;
  /** Set for build output. */
  build?: string;
  stream: 'stdout' | 'stderr';
  /** Epoch ms when the agent read it. */
  time: number;
  line: string;
}

export interface ProgressRequest {
  lines: string[];
}

export interface ResultRequest {
  ok: boolean;
  result?: {
    message?: string;
    code?: string;
    instance?: InstanceReport;
    lastLines?: string[];
    commit?: string | null;
    /** A one-off's exit code (null: it never ran to an exit). */
    exitCode?: number | null;
    /** A job task: epoch ms (agent clock) when its command started. */
    startedAt?: number;
    /** A one-off or job was killed at its timeout. */
    timedOut?: boolean;
    /** The manifest digest an image instance runs (pinned or resolved from its tag). */
    imageDigest?: string;
  };
}

export const MAX_CLAIM_WAIT_MS = 25_000;
export const DEFAULT_HEARTBEAT_INTERVAL_MS = 5_000;
export const DEFAULT_LEASE_MS = 30_000;
