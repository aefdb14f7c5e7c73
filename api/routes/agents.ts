// Operators' view of the worker agents: GET /api/v1/agents lists them (never a
// credential or its hash): where they are, whether they are online, what they
// offer and use, what they run and which runtimes they have (`forge agents`);
// POST /api/v1/agents/:id/revoke refuses an agent's credential from then on.
// Admin auth comes from the context these are registered in. Instances are
// counted and named by service, never their env.

import type { FastifyInstance } from 'fastify';
import { capacityVerified } from '../../providers/agent/capacity.ts';
import { ForgeError } from '../../errors/index.ts';
import type { Store } from '../../store/index.ts';
import type { AgentRow } from '../../store/rows.ts';
import { actorOf } from '../auth.ts';
import type { ApiContext } from '../context.ts';

/** Revokes an agent and cancels the tasks addressed to it (placed again elsewhere, as for an offline agent); false when unknown or already revoked. */
export function revokeAgent(store: Store, id: string, now: number = Date.now()): boolean {
  return store.transaction(() => {
    if (!store.agents.revoke(id, now)) return false;
    store.tasks.cancelForAgent(id);
    return true;
  });
}

interface InstanceReport { service?: unknown; state?: unknown }

function num(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

export function agentJson(row: AgentRow) {
  const usage = (row.usage ?? {}) as { cpus?: unknown; memoryBytes?: unknown; imageBytes?: unknown };
  const reports = row.instances as InstanceReport[];
  const services = [...new Set(reports.map((i) => i.service).filter((s): s is string => typeof s === 'string'))].sort();
  return {
    id: row.id, name: row.name, address: row.addresses[0] ?? null, addresses: row.addresses, labels: row.labels,
    capacity: row.capacity, capacityVerified: capacityVerified(row.capacity),
    usage: { cpus: num(usage.cpus), memoryBytes: num(usage.memoryBytes), imageBytes: num(usage.imageBytes) },
    instances: { count: reports.length, running: reports.filter((i) => i.state === 'running').length, services },
    runtimes: row.runtimes.map((r) => `${r.name} ${r.version}`),
    online: row.online, lastSeenAt: row.lastSeenMs === null ? null : new Date(row.lastSeenMs).toISOString(),
    revokedAt: row.revokedAt, createdAt: row.createdAt,
  };
}

export type AgentJson = ReturnType<typeof agentJson>;

export function registerAgentRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.get('/api/v1/agents', async () => ({ agents: ctx.store.agents.list().map(agentJson) }));

  app.post('/api/v1/agents/:id/revoke', {
    schema: { params: { type: 'object', properties: { id: { type: 'string', maxLength: 100 } }, required: ['id'] } },
  }, async (request) => {
    const { id } = request.params as { id: string };
    const row = ctx.store.agents.get(id);
    if (row === null) throw new ForgeError('E_NOT_FOUND', `no agent ${id}`);
    if (row.revokedAt === null) {
      revokeAgent(ctx.store, id, ctx.now());
      ctx.store.audit.append({ actor: actorOf(request), action: 'agent.revoke', target: `agent:${id}`, details: {} });
    }
    return { agent: agentJson(ctx.store.agents.get(id)!) };
  });
}
