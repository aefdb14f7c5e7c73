// POST /api/compute/services/:id/restart: the same spec again as a new generation
// (api/service-restart.ts). Answers the service as GET does.

import type { FastifyInstance } from 'fastify';
import { actorOf } from '../auth.ts';
import type { ApiContext } from '../context.ts';
import { idParams } from '../schemas.ts';
import { restartService } from '../service-restart.ts';
import { renderService } from './services.ts';

export function registerRestartRoute(app: FastifyInstance, ctx: ApiContext): void {
  app.post<{ Params: { id: string } }>('/api/compute/services/:id/restart', { schema: { params: idParams } }, async (request) =>
    renderService(ctx, restartService(ctx, request.params.id, actorOf(request))));
}
