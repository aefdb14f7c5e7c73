// /api/compute/services: the InsForge-Compute-shaped surface (request and answer
// shapes in ../compat.ts). `:id` is the service id or its name; deploy by name is an upsert.

import type { FastifyInstance } from 'fastify';
import { ForgeError } from '../../errors/index.ts';
import type { DesiredRow } from '../../store/index.ts';
import { actorOf } from '../auth.ts';
import type { ApiContext } from '../context.ts';
import { idParams, createServiceBody, deployTokenBody, eventsQuery, patchServiceBody } from '../schemas.ts';
import { computeEvents, computeService, deletedAnswer, forgeBody, refuseForeignFlyImage, type ComputeBody, type ComputeServiceJson } from '../compat.ts';
import { serviceJson } from '../service-json.ts';
import { deleteService, requireService, requireServiceToRead, setDesiredState, writeService } from '../service-writes.ts';
import { startService } from '../service-restart.ts';
import { registerLogsRoute } from './logs.ts';
import { mergeEvents, readProviderEvents } from '../provider-events.ts';

type IdParams = { id: string };

/** The service's provider gives it an app with its own registry (a capability: never its name). */
function hasOwnApp(ctx: ApiContext, row: DesiredRow): boolean {
  return ctx.capabilities?.(row.spec.provider)?.registryPerService === true;
}

export async function renderServices(ctx: ApiContext, rows: readonly DesiredRow[]): Promise<ComputeServiceJson[]> {
  const observed = await ctx.observe(rows.map((r) => r.name));
  const byKey = new Map(observed.map((o) => [o.key, o] as const));
  return rows.map((row) => {
    const envKeys = [...new Set([...Object.keys(row.spec.env), ...ctx.store.secrets.keys(row.name)])].sort();
    return computeService(serviceJson(row, ctx.store.status.get(row.name), envKeys, byKey.get(row.name)), row, hasOwnApp(ctx, row), ctx.flyAppName);
  });
}

export async function renderService(ctx: ApiContext, row: DesiredRow): Promise<ComputeServiceJson> {
  const [json] = await renderServices(ctx, [row]);
  return json as ComputeServiceJson;
}



function requireDeployToken(ctx: ApiContext): NonNullable<ApiContext['deployToken']> {
  if (!ctx.deployToken) {
    throw new ForgeError('E_COMPUTE_NOT_CONFIGURED', 'source deploys need the fly provider, which is not configured (set FLY_API_TOKEN and FLY_ORG)');
  }
  return ctx.deployToken;
}

export function registerServiceRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const base = '/api/compute/services';

  // A bare array, as InsForge answers (its CLI calls .find on it). Reads include services being
  // destroyed (status `destroying`) until their row is gone.
  app.get(base, async () => renderServices(ctx, ctx.store.services.list()));

  app.get<{ Params: IdParams }>(`${base}/:id`, { schema: { params: idParams } }, async (request) =>
    renderService(ctx, requireServiceToRead(ctx, request.params.id)));

  app.post<{ Body: ComputeBody & { name: string } }>(base, { schema: { body: createServiceBody } }, async (request, reply) => {
    const result = await writeService(ctx, request.body.name, forgeBody(request.body), 'image', actorOf(request));
    return reply.status(result.created ? 201 : 200).send(await renderService(ctx, result.row));
  });

  app.post<{ Body: ComputeBody & { name: string } }>(`${base}/deploy`, { schema: { body: createServiceBody } }, async (request, reply) => {
    const mint = requireDeployToken(ctx);
    const result = await writeService(ctx, request.body.name, forgeBody(request.body), 'source', actorOf(request));
    const token = await mint(result.row.name);
    const service = await renderService(ctx, result.row);
    return reply.status(result.created ? 201 : 200).send({ ...service, deployToken: token });
  });

  app.post<{ Params: IdParams; Body: { ttlSeconds?: number } | null }>(
    `${base}/:id/deploy-token`, { schema: { params: idParams, body: deployTokenBody } }, async (request) => {
      const mint = requireDeployToken(ctx);
      const row = requireService(ctx, request.params.id);
      if (!hasOwnApp(ctx, row)) {
        throw new ForgeError('E_BAD_REQUEST', `service ${row.name} runs on ${row.spec.provider}, which keeps no image registry per service; deploy tokens are for source deploys to one that does (fly)`);
      }
      ctx.store.audit.append({ actor: actorOf(request), action: 'service.deploy-token', target: row.name, details: null });
      const token = await mint(row.name, request.body?.ttlSeconds);
      // InsForge's clients read the lifetime as expirySeconds.
      return { ...token, expirySeconds: Math.max(0, Math.round((token.expiresAt - ctx.now()) / 1000)) };
    });

  app.patch<{ Params: IdParams; Body: ComputeBody }>(`${base}/:id`, { schema: { params: idParams, body: patchServiceBody } }, async (request) => {
    const row = requireService(ctx, request.params.id);
    const body = forgeBody(request.body);
    // The image a source build pushed lands in the service's own Fly app (compat.ts says why only here).
    if (hasOwnApp(ctx, row)) refuseForeignFlyImage(row.name, body.image, ctx.flyAppName?.(row.name));
    const result = await writeService(ctx, row.name, body, 'patch', actorOf(request));
    return renderService(ctx, result.row);
  });

  app.post<{ Params: IdParams }>(`${base}/:id/start`, { schema: { params: idParams } }, async (request) =>
    renderService(ctx, startService(ctx, request.params.id, actorOf(request))));

  app.post<{ Params: IdParams }>(`${base}/:id/stop`, { schema: { params: idParams } }, async (request) =>
    renderService(ctx, setDesiredState(ctx, request.params.id, 'stopped', actorOf(request))));

  app.delete<{ Params: IdParams }>(`${base}/:id`, { schema: { params: idParams } }, async (request, reply) => {
    const deleted = await deleteService(ctx, request.params.id, actorOf(request));
    return reply.status(202).send(deletedAnswer(deleted));
  });

  app.get<{ Params: IdParams; Querystring: { limit?: number; after?: number } }>(
    `${base}/:id/events`, { schema: { params: idParams, querystring: eventsQuery } }, async (request) => {
      const row = requireServiceToRead(ctx, request.params.id);
      const { limit = 100, after } = request.query;
      const stored = ctx.store.events.list(row.name, { limit, ...(after !== undefined ? { afterId: after } : {}) });
      // Following (`after`) reads the store alone: provider events have no id to follow by.
      // A bare array of InsForge's { timestamp, message }, Forge's fields kept (compat.ts).
      if (after !== undefined || !ctx.providerEvents) return computeEvents(mergeEvents(stored, [], limit));
      const fromProvider = await readProviderEvents(row.name, row.spec.provider, ctx.providerEvents, ctx.now());
      return computeEvents(mergeEvents(stored, fromProvider, limit));
    });

  registerLogsRoute(app, ctx, `${base}/:id/logs`);

  app.get('/api/compute/config', async () => ({ providers: ctx.providers }));
}
