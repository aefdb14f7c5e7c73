// POST /api/compute/services/:id/rollback {to?}: an earlier release becomes the
// desired one again, as a new generation (api/service-rollback.ts). Its hash is
// the API's secret-aware desired hash, so the loop sees exactly what a write of
// that spec through the API would have stored.

import type { FastifyInstance } from 'fastify';
import { rollback } from '../service-rollback.ts';
import type { ServiceSpec } from '../../specs/types.ts';
import { actorOf } from '../auth.ts';
import type { ApiContext } from '../context.ts';
import { idParams } from '../schemas.ts';
import { desiredHash, openSecrets } from '../secrets.ts';
import { assertProviderConfigured, requireService } from '../service-writes.ts';
import { renderService } from './services.ts';

export const rollbackBody = {
  type: ['object', 'null'],
  additionalProperties: false,
  properties: { to: { type: 'integer', minimum: 1, description: 'The generation to roll back to; default: the newest earlier release that succeeded.' } },
} as const;

export function registerRollbackRoute(app: FastifyInstance, ctx: ApiContext): void {
  app.post<{ Params: { id: string }; Body: { to?: number } | null }>(
    '/api/compute/services/:id/rollback', { schema: { params: idParams, body: rollbackBody } }, async (request) => {
      const row = requireService(ctx, request.params.id);
      // The values the release's secret names refer to are the service's current ones: the store keeps no history of values.
      let values: Record<string, string> | undefined;
      const hashOf = (spec: ServiceSpec) => {
        assertProviderConfigured(ctx, spec);
        if (spec.secrets.length > 0) values ??= openSecrets(ctx.store, ctx.cipher, row.name);
        return desiredHash(spec, values ?? {}, ctx.hashKey);
      };
      const to = request.body?.to;
      const result = rollback(ctx.store, row.name, { actor: actorOf(request), hashOf, ...(to !== undefined ? { to } : {}) });
      ctx.nudge(row.name);
      const service = await renderService(ctx, ctx.store.services.get(row.name) ?? row);
      return { ...result, service };
    });
}
