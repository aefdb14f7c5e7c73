// Pure placement: which online agent runs each replica. Headroom is capacity minus
// what already-placed instances reserve (their spec's resources, not measured use),
// so a placement never overcommits an agent. Replicas of one service spread across
// agents when they can; among equals the agent with the most free memory wins, and
// the agent id breaks the last tie, so the same input always gives the same answer.
// A request naming a runtime goes only to agents that reported a matching one.

import { describeRuntimes, findRuntime, type AgentRuntime } from '../../specs/runtimes.ts';

export interface PlacementRequest {
  /** Service key. */
  key: string;
  replica: number;
  cpus: number;
  memoryBytes: number;
  /** The spec's `runtime` (e.g. `node20`); absent: any agent. */
  runtime?: string;
  /** What else the agent must have reported (`oci-image`, `dockerfile`: specs/runtimes.ts agentFeatureNeeded). */
  feature?: string;
}

export interface SchedulableAgent {
  id: string;
  online: boolean;
  capacity: { cpus: number; memoryBytes: number };
  /** False when the claimed capacity is beyond what a host plausibly has: used only when no verified agent fits. */
  capacityVerified?: boolean;
  /** What the agent found at start; absent or empty: it has none Forge knows. */
  runtimes?: readonly AgentRuntime[];
}

/** An instance already on an agent (running or still starting): it holds its reservation. */
export interface ExistingPlacement {
  agentId: string;
  key: string;
  replica: number;
  cpus: number;
  memoryBytes: number;
}

export interface Placement {
  key: string;
  replica: number;
  agentId: string;
}

export interface Unschedulable {
  key: string;
  replica: number;
  /** What was short, in words a person can act on. */
  reason: string;
}

export interface PlacementResult {
  placements: Placement[];
  unschedulable: Unschedulable[];
}

interface Slot {
  id: string;
  verified: boolean;
  freeCpus: number;
  freeMemory: number;
  runtimes: readonly AgentRuntime[];
  /** Instances per service key on this agent (spread). */
  perKey: Map<string, number>;
}

// Fractional CPUs (0.1 + 0.2) must not fail a fit by a rounding hair.
const EPSILON = 1e-9;

export function place(
  requests: readonly PlacementRequest[],
  agents: readonly SchedulableAgent[],
  existing: readonly ExistingPlacement[],
): PlacementResult {
  const slots = agents
    .filter((a) => a.online)
    .map((a): Slot => ({ id: a.id, verified: a.capacityVerified !== false, freeCpus: a.capacity.cpus, freeMemory: a.capacity.memoryBytes, runtimes: a.runtimes ?? [], perKey: new Map() }))
    .sort((a, b) => compareIds(a.id, b.id));
  const byId = new Map(slots.map((s) => [s.id, s]));
  // Instances on agents that are offline or gone reserve nothing: they are lost and get placed again.
  for (const e of existing) {
    const slot = byId.get(e.agentId);
    if (slot) reserve(slot, e.key, e.cpus, e.memoryBytes);
  }

  const placements: Placement[] = [];
  const unschedulable: Unschedulable[] = [];
  for (const request of [...requests].sort(compareRequests)) {
    const runtime = request.runtime;
    const feature = request.feature;
    const featured = feature === undefined ? slots : slots.filter((s) => s.runtimes.some((r) => r.name === feature));
    if (feature !== undefined && slots.length > 0 && featured.length === 0) {
      unschedulable.push({ key: request.key, replica: request.replica, reason: missingFeature(feature) });
      continue;
    }
    const able = runtime === undefined ? featured : featured.filter((s) => findRuntime(runtime, s.runtimes) !== undefined);
    let best: Slot | undefined;
    for (const slot of able) {
      if (!fits(slot, request)) continue;
      if (best === undefined || better(slot, best, request.key)) best = slot;
    }
    if (best === undefined) {
      const reason = runtime !== undefined && featured.length > 0 && able.length === 0
        ? missingRuntime(runtime, featured)
        : shortfall(request, able, agents.length, runtime);
      unschedulable.push({ key: request.key, replica: request.replica, reason });
      continue;
    }
    reserve(best, request.key, request.cpus, request.memoryBytes);
    placements.push({ key: request.key, replica: request.replica, agentId: best.id });
  }
  return { placements, unschedulable };
}

function fits(slot: Slot, request: PlacementRequest): boolean {
  return slot.freeCpus + EPSILON >= request.cpus && slot.freeMemory >= request.memoryBytes;
}

/** Verified capacity first, then fewer replicas of this service (spread), more free memory, more free CPU; ids were pre-sorted. */
function better(a: Slot, b: Slot, key: string): boolean {
  if (a.verified !== b.verified) return a.verified;
  const spreadA = a.perKey.get(key) ?? 0;
  const spreadB = b.perKey.get(key) ?? 0;
  if (spreadA !== spreadB) return spreadA < spreadB;
  if (a.freeMemory !== b.freeMemory) return a.freeMemory > b.freeMemory;
  if (Math.abs(a.freeCpus - b.freeCpus) > EPSILON) return a.freeCpus > b.freeCpus;
  return compareIds(a.id, b.id) < 0;
}

function reserve(slot: Slot, key: string, cpus: number, memoryBytes: number): void {
  slot.freeCpus -= cpus;
  slot.freeMemory -= memoryBytes;
  slot.perKey.set(key, (slot.perKey.get(key) ?? 0) + 1);
}

/** Biggest first (so large requests are not starved by fragments), then key and replica for determinism. */
function compareRequests(a: PlacementRequest, b: PlacementRequest): number {
  if (a.memoryBytes !== b.memoryBytes) return b.memoryBytes - a.memoryBytes;
  if (a.cpus !== b.cpus) return b.cpus - a.cpus;
  const byKey = compareIds(a.key, b.key);
  return byKey !== 0 ? byKey : a.replica - b.replica;
}

function missingFeature(feature: string): string {
  const what = feature === 'dockerfile' ? 'build Dockerfiles (buildah)' : 'run images (skopeo, umoci and crun)';
  return `needs an agent that can ${what}, and no online agent reported that it can: install the packages on an agent and restart it`;
}

function missingRuntime(runtime: string, slots: readonly Slot[]): string {
  const have = describeRuntimes(slots.flatMap((s) => s.runtimes));
  return `needs runtime ${runtime}, which no online agent has (${have === '' ? 'they report no runtimes' : `they have ${have}`})`;
}

function shortfall(request: PlacementRequest, slots: readonly Slot[], registered: number, runtime?: string): string {
  const anyAgent = runtime === undefined ? 'any agent' : `any agent with runtime ${runtime}`;
  const what = `needs ${formatMemory(request.memoryBytes)} memory and ${formatCpus(request.cpus)} CPU`;
  if (slots.length === 0) {
    return registered === 0
      ? `${what}, but no agent is registered`
      : `${what}, but no agent is online (${registered} registered, all offline)`;
  }
  const mostMemory = slots.reduce((m, s) => (s.freeMemory > m.freeMemory ? s : m));
  const mostCpus = slots.reduce((m, s) => (s.freeCpus > m.freeCpus ? s : m));
  const memoryShort = request.memoryBytes > mostMemory.freeMemory;
  const cpuShort = request.cpus > mostCpus.freeCpus + EPSILON;
  const freeMem = formatMemory(Math.max(0, mostMemory.freeMemory));
  const freeCpu = formatCpus(Math.max(0, mostCpus.freeCpus));
  if (memoryShort && cpuShort) {
    return `needs ${formatMemory(request.memoryBytes)} memory and ${formatCpus(request.cpus)} CPU, ` +
      `the most free on ${anyAgent} is ${freeMem} memory and ${freeCpu} CPU`;
  }
  if (memoryShort) return `needs ${formatMemory(request.memoryBytes)} memory, the most free on ${anyAgent} is ${freeMem}`;
  if (cpuShort) return `needs ${formatCpus(request.cpus)} CPU, the most free on ${anyAgent} is ${freeCpu}`;
  return `${what} on one agent; no agent has both free ` +
    `(most memory: ${freeMem} on ${mostMemory.id} with ${formatCpus(Math.max(0, mostMemory.freeCpus))} CPU; ` +
    `most CPU: ${freeCpu} on ${mostCpus.id} with ${formatMemory(Math.max(0, mostCpus.freeMemory))})`;
}

export function formatMemory(bytes: number): string {
  const mb = bytes / (1024 * 1024);
  if (mb >= 10 * 1024 && Number.isInteger(mb / 1024)) return `${mb / 1024} GB`;
  return `${Math.floor(mb)} MB`;
}

function formatCpus(cpus: number): string {
  return String(Math.round(cpus * 1000) / 1000);
}

function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
