// Source bundles over HTTP. For people (API key, admin context):
//   HEAD /api/v1/bundles/:digest  200 when stored (nothing to upload), else 404;
//                                 x-forge-bundle-limit says the upload ceiling either way
//   PUT  /api/v1/bundles/:digest  a gzipped tar whose content must hash to :digest;
//                                 413 E_TOO_LARGE over the limit, 400 on a digest mismatch
// For agents (their own token, inside the agent protocol's auth hook):
//   GET  /api/agents/:id/bundles/:digest  the stored gzip; the agent verifies the digest itself.
// An apply naming a bundle the control plane does not hold is refused before anything is written.

import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import type { LoadedSpec } from '../../specs/index.ts';
import { ForgeError } from '../../errors/index.ts';
import { specHash } from '../../specs/index.ts';
import { isBundleDigest, shipsSource } from '../../specs/bundle.ts';
import type { Readable } from 'node:stream';
import { checkDigest, readBundle, type BundleStore } from '../bundle-store.ts';
import type { ApiContext } from '../context.ts';
import { sweepRetention } from '../retention.ts';

export const BUNDLE_LIMIT_HEADER = 'x-forge-bundle-limit';

const digestParams = {
  type: 'object',
  required: ['digest'],
  properties: { digest: { type: 'string', maxLength: 100 } },
} as const;

/** A source-mode spec named in `bundles` gets the digest as its revision (a new release when it changed). */
export function withBundle(loaded: LoadedSpec, bundles: Record<string, string> | undefined): LoadedSpec {
  const digest = bundles?.[loaded.spec.name];
  if (digest === undefined) return loaded;
  if (loaded.spec.sourceDir === undefined || loaded.spec.run === undefined) {
    throw new ForgeError('E_BAD_REQUEST', `bundles.${loaded.spec.name}: only a source-mode service (source + run) builds from a bundle`, {
      details: [{ path: `bundles.${loaded.spec.name}`, message: 'service has no source to build' }],
    });
  }
  const spec = { ...loaded.spec, revision: digest };
  return { ...loaded, spec, hash: specHash(spec) };
}

/**
 * Production: every source-mode service of the set builds from a bundle. A folder path with no
 * bundle names a directory on the client's disk; agents on other hosts cannot read it, so the
 * whole set is refused before anything is written. Development (forge dev, one host) builds from it.
 */
export function requireBundledSources(ctx: Pick<ApiContext, 'sourceFromBundlesOnly'>, specs: readonly LoadedSpec[]): void {
  if (!ctx.sourceFromBundlesOnly) return;
  const folders = specs.filter(({ spec }) => shipsSource(spec) && !isBundleDigest(spec.revision));
  if (folders.length === 0) return;
  const message = folders.map(({ spec }) =>
    `service ${spec.name} names the folder ${spec.sourceDir} as its source, which agents on other hosts cannot read (production mode); ` +
    `deploy it with forge apply -f or forge deploy DIR, which upload the folder as a bundle, or upload it yourself (PUT /api/v1/bundles/<digest>) and name it under bundles.${spec.name}`).join('; ');
  throw new ForgeError('E_SOURCE_NOT_BUNDLED', message, {
    details: folders.map(({ spec }) => ({ path: `bundles.${spec.name}`, message: 'a source-mode service needs a bundle digest in production' })),
  });
}

export async function requireStoredBundles(ctx: ApiContext, specs: readonly LoadedSpec[]): Promise<void> {
  if (!ctx.bundles) return;
  const missing: { path: string; message: string }[] = [];
  for (const { spec } of specs) {
    if (spec.revision?.startsWith('sha256:') && !(await ctx.bundles.has(spec.revision))) {
      missing.push({ path: `bundles.${spec.name}`, message: `bundle ${spec.revision} was not uploaded (PUT /api/v1/bundles/${spec.revision} first)` });
    }
  }
  if (missing.length > 0) throw new ForgeError('E_BAD_REQUEST', missing.map((m) => m.message).join('; '), { details: missing });
}

export function registerBundleRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const bundles = ctx.bundles;
  if (!bundles) return;
  void app.register(async (scope) => {
    // The body is a stream we hash and count ourselves; JSON parsing and bodyLimit do not apply.
    scope.addContentTypeParser(['application/gzip', 'application/octet-stream', 'application/x-tar'], (_request, payload, done) => done(null, payload));
    scope.addContentTypeParser('*', (_request, payload, done) => done(null, payload));

    scope.head<{ Params: { digest: string } }>('/api/v1/bundles/:digest', { schema: { params: digestParams } }, async (request, reply) => {
      checkDigest(request.params.digest);
      const size = await bundles.size(request.params.digest);
      void reply.header(BUNDLE_LIMIT_HEADER, String(bundles.limitBytes));
      if (size === null) return reply.code(404).send();
      return reply.code(200).header('x-forge-bundle-bytes', String(size)).send();
    });

    scope.put<{ Params: { digest: string } }>('/api/v1/bundles/:digest', { schema: { params: digestParams } }, async (request, reply) => {
      const { digest } = request.params;
      checkDigest(digest);
      const declared = Number(request.headers['content-length'] ?? NaN);
      if (Number.isFinite(declared) && declared > bundles.limitBytes) {
        throw new ForgeError('E_TOO_LARGE', `bundle of ${declared} bytes is over this control plane's upload limit of ${bundles.limitBytes} bytes (FORGE_BUNDLE_LIMIT_MB); list build output and data in .forgeignore`, {
          details: { bytes: declared, limitBytes: bundles.limitBytes },
        });
      }
      const result = await bundles.put(digest, request.body as Readable);
      // Each upload is a chance to let go of old releases and of bundles nothing names any more.
      void sweepRetention(ctx, ctx.releaseHistory).catch(() => undefined);
      return reply.code(result.stored ? 201 : 200).send({ digest, stored: result.stored, bytes: result.bytes });
    });
  });
}

/** Registered inside the agent protocol's plugin, so its auth hook (agent token, own id) guards it. */
export function agentBundleRoutes(bundles: BundleStore): FastifyPluginAsync {
  return async (app) => {
    app.get<{ Params: { id: string; digest: string } }>('/:id/bundles/:digest', async (request, reply) => {
      const { digest } = request.params;
      checkDigest(digest);
      const file = await bundles.file(digest);
      if (file === null) throw new ForgeError('E_NOT_FOUND', `bundle ${digest} is not stored on this control plane`);
      return reply.code(200).header('content-type', 'application/gzip').send(readBundle(file));
    });
  };
}
