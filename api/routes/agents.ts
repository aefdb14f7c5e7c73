// Operators' view of the worker agents: GET /api/v1/agents lists them (never a
// credential or its hash), POST /api/v1/agents/:id/revoke refuses an agent's
// credential from then on. Admin auth comes from the context these are registered in.

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

export function agentJson(row: AgentRow) {
  return {
    id: row.id, name: row.name, addresses: row.addresses, labels: row.labels,
    capacity: row.capacity, capacityVerified: capacityVerified(row.capacity),
    online: row.online, lastSeenAt: row.lastSeenMs === null ? null : new Date(row.lastSeenMs).toISOString(),
    revokedAt: row.revokedAt, createdAt: row.createdAt,
  };
}

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
