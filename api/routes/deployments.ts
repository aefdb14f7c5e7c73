// Webhook deployments, newest first, and one by id.

import type { FastifyInstance } from 'fastify';
import { ForgeError } from '../../errors/index.ts';
import type { ApiContext } from '../context.ts';
import { deploymentsQuery, idParams } from '../schemas.ts';

export function registerDeploymentRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.get<{ Querystring: { limit?: number } }>('/api/v1/deployments', { schema: { querystring: deploymentsQuery } }, async (request) =>
    ({ deployments: ctx.store.deployments.list(request.query.limit ?? 100) }));

  app.get<{ Params: { id: string } }>('/api/v1/deployments/:id', { schema: { params: idParams } }, async (request) => {
    const row = ctx.store.deployments.get(request.params.id);
    if (!row) throw new ForgeError('E_NOT_FOUND', `no deployment ${JSON.stringify(request.params.id)}`);
    return row;
  });
}
