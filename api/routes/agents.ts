// GET /api/agents: the worker agents as an operator sees them (`forge agents`):
// where they are, whether they are online, what they offer and use, and what
// they run. An admin route (API key or JWT); the agent protocol itself lives
// under /api/agents/… with agent tokens (api/agent-routes.ts). Token hashes and
// labels' values stay out; instances are counted and named, never their env.

import type { FastifyInstance } from 'fastify';
import type { AgentRow } from '../../store/rows.ts';
import type { ApiContext } from '../context.ts';

export interface AgentJson {
  id: string;
  name: string;
  address: string | null;
  online: boolean;
  lastSeenAt: string | null;
  capacity: { cpus: number; memoryBytes: number };
  usage: { cpus: number | null; memoryBytes: number | null };
  instances: { count: number; running: number; services: string[] };
  runtimes: string[];
}

interface InstanceReport { service?: unknown; state?: unknown }

function num(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

/** Runtimes the agent reports, from a `runtimes` field or a `forge.runtimes` label ("node,python"). */
function runtimesOf(row: AgentRow): string[] {
  const field = (row as AgentRow & { runtimes?: unknown }).runtimes;
  if (Array.isArray(field)) return field.filter((r): r is string => typeof r === 'string').sort();
  const label = row.labels['forge.runtimes'] ?? row.labels.runtimes;
  return label ? label.split(',').map((r) => r.trim()).filter((r) => r !== '').sort() : [];
}

export function agentJson(row: AgentRow): AgentJson {
  const usage = (row.usage ?? {}) as { cpus?: unknown; memoryBytes?: unknown };
  const reports = row.instances as InstanceReport[];
  const services = [...new Set(reports.map((i) => i.service).filter((s): s is string => typeof s === 'string'))].sort();
  return {
    id: row.id,
    name: row.name,
    address: row.addresses[0] ?? null,
    online: row.online,
    lastSeenAt: row.lastSeenMs === null ? null : new Date(row.lastSeenMs).toISOString(),
    capacity: { cpus: row.capacity.cpus, memoryBytes: row.capacity.memoryBytes },
    usage: { cpus: num(usage.cpus), memoryBytes: num(usage.memoryBytes) },
    instances: { count: reports.length, running: reports.filter((i) => i.state === 'running').length, services },
    runtimes: runtimesOf(row),
  };
}

export function registerAgentsListRoute(app: FastifyInstance, ctx: ApiContext): void {
  app.get('/api/agents', async () => ({ agents: ctx.store.agents.list().map(agentJson) }));
}
