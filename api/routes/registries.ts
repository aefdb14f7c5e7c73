// Image registry credentials: GET /api/v1/registries lists hosts and usernames (never
// a password); PUT /api/v1/registries/:host {username, password} stores one (sealed);
// DELETE /api/v1/registries/:host forgets it. Admin auth comes from the context.

import type { FastifyInstance } from 'fastify';
import { ForgeError } from '../../errors/index.ts';
import { actorOf } from '../auth.ts';
import type { ApiContext } from '../context.ts';
import { sealRegistry, validRegistryHost } from '../registries.ts';

const hostParams = {
  type: 'object', required: ['host'], additionalProperties: false,
  properties: { host: { type: 'string', minLength: 1, maxLength: 260, description: 'Registry host, with port when not 443 (e.g. ghcr.io, 127.0.0.1:5000).' } },
} as const;

const credentialBody = {
  type: 'object', required: ['username', 'password'], additionalProperties: false,
  properties: {
    username: { type: 'string', minLength: 1, maxLength: 256, description: 'Registry user name.' },
    password: { type: 'string', minLength: 1, maxLength: 8192, description: 'Password or access token; stored encrypted, never returned.' },
  },
} as const;

function host(raw: string): string {
  if (!validRegistryHost(raw)) throw new ForgeError('E_BAD_REQUEST', `${JSON.stringify(raw.slice(0, 100))} is not a registry host (e.g. ghcr.io or 127.0.0.1:5000)`);
  return raw.toLowerCase();
}

export function registerRegistryRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.get('/api/v1/registries', async () => ({
    registries: ctx.store.registries.list().map((r) => ({ host: r.host, username: r.username, updatedAt: r.updatedAt })),
  }));

  app.put<{ Params: { host: string }; Body: { username: string; password: string } }>(
    '/api/v1/registries/:host', { schema: { params: hostParams, body: credentialBody } }, async (request) => {
      const name = host(request.params.host);
      sealRegistry(ctx.store, ctx.cipher, name, request.body);
      ctx.store.audit.append({ actor: actorOf(request), action: 'registry.login', target: name, details: { username: request.body.username } });
      return { host: name, username: request.body.username };
    });

  app.delete<{ Params: { host: string } }>('/api/v1/registries/:host', { schema: { params: hostParams } }, async (request, reply) => {
    const name = host(request.params.host);
    if (!ctx.store.registries.remove(name)) throw new ForgeError('E_NOT_FOUND', `no credentials stored for registry ${name}`);
    ctx.store.audit.append({ actor: actorOf(request), action: 'registry.logout', target: name, details: {} });
    return reply.code(204).send();
  });
}
