// POST /api/agents/:id/logs: an agent ships app and build output in batches. Registered
// inside the agent protocol plugin (agent-routes.ts), behind its agent-token hook. A line
// counts only for an instance the control plane placed on this very agent: an agent
// cannot write into another service's logs.

import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ForgeError } from '../../errors/index.ts';
import type { LogLineInput, Store } from '../../store/index.ts';
import { parseBody } from '../../providers/agent/validate.ts';

export interface AgentLogRouteOptions {
  store: Store;
  /** The agent the request authenticated as (throws when none). */
  agentOf(request: FastifyRequest): string;
}

export function registerAgentLogRoute(app: FastifyInstance, options: AgentLogRouteOptions): void {
  app.post('/:id/logs', { bodyLimit: 8 * 1024 * 1024 }, async (request) => {
    const agentId = options.agentOf(request);
    const body = parseBody('agent-logs', request.body);
    const services = new Map<string, string | null>();
    const lines: LogLineInput[] = [];
    for (const l of body.lines) {
      if (!services.has(l.instance)) services.set(l.instance, options.store.logs.serviceOfInstance(agentId, l.instance));
      const service = services.get(l.instance);
      if (service === null || service === undefined) {
        throw new ForgeError('E_FORBIDDEN', `instance ${l.instance} was never placed on agent ${agentId}`);
      }
      lines.push({ service, instance: l.instance, build: l.build ?? null, stream: l.stream, timeMs: l.time, line: l.line });
    }
    return { ok: true, stored: options.store.logs.append(lines) };
  });
}
