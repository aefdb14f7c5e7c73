// buildApi(deps) → a Fastify instance with every route, not yet listening. Tests
// drive it through inject(); control-plane.ts listens on FORGE_API_ADDR.

import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import Fastify, { type FastifyInstance, type FastifyPluginAsync, type FastifyServerOptions } from 'fastify';
import type { Registry } from 'prom-client';
import type { Observed } from '../providers/types.ts';
import type { Cipher } from '../store/cipher.ts';
import type { Store } from '../store/index.ts';
import { authenticate } from './auth.ts';
import { registerJobRoutes } from './routes/jobs.ts';
import { createAuthLimits, type AuthLimits } from './auth-limits.ts';
import { acceptEmptyJsonBodies, registerUsageSink } from './compat.ts';
import type { Config } from './config.ts';
import type { ApiContext, ProvidersConfig } from './context.ts';
import { errorHandler } from './errors.ts';
import { createGitDeployer, type GitDeployer } from './git-deploy.ts';
import { installApiMetrics, registerMetricsRoute } from './metrics.ts';
import { registerAgentRoutes } from './routes/agents.ts';
import { registerApplyRoute } from './routes/apply.ts';
import { registerBundleRoutes } from './routes/bundles.ts';
import { createBundleStore } from './bundle-store.ts';
import { startRetentionTimer } from './retention.ts';
import { DEFAULT_RELEASE_HISTORY } from '../store/release-retention.ts';
import { DEFAULT_BUNDLE_LIMIT_BYTES } from '../specs/bundle.ts';
import { registerDeploymentRoutes } from './routes/deployments.ts';
import { registerReleasesRoute } from './routes/releases.ts';
import { registerRestartRoute } from './routes/restart.ts';
import { registerRunRoute } from './routes/run.ts';
import { registerRollbackRoute } from './routes/rollback.ts';
import { registerRegistryRoutes } from './routes/registries.ts';
import { createImagePinner } from './image-pins.ts';
import { registerServiceRoutes } from './routes/services.ts';
import { webhookPlugin } from './routes/webhook.ts';
import { secretHashKey } from './secrets.ts';

export const BODY_LIMIT = 1024 * 1024;

export interface ApiDeps {
  store: Store;
  cipher: Cipher;
  config: Pick<Config, 'jwtSecret' | 'encryptionKeys' | 'allowedRepos' | 'allowedBranches' | 'dataDir' | 'webhookSecret' | 'metricsToken'>
    & Partial<Pick<Config, 'gitUrlTemplate' | 'domain' | 'mode'>>;
  loop: { nudge(key: string): void };
  providersConfig: ProvidersConfig;
  /** The reconciler's registry; process and API metrics are added to it. */
  registry: Registry;
  observe?: ApiContext['observe'];
  deployToken?: ApiContext['deployToken'];
  logs?: ApiContext['logs'];
  providerEvents?: ApiContext['providerEvents'];
  oneOffs?: ApiContext['oneOffs'];
  flyAppName?: ApiContext['flyAppName'];
  capabilities?: ApiContext['capabilities'];
  /** Replaces the real clone-and-apply (tests of the webhook route itself). */
  gitDeployer?: GitDeployer;
  gitDeploy?: { waitMs?: number; pollMs?: number };
  /** Receives each webhook deployment's background promise. */
  onBackground?: (work: Promise<void>) => void;
  now?: () => number;
  /** Fastify/pino logger options; `false` (default) logs nothing. */
  logger?: FastifyServerOptions['logger'];
  /** Extra routes (the agent protocol under /api/agents/…); they bring their own auth. */
  plugins?: FastifyPluginAsync[];
  bodyLimit?: number;
  /** Failed-authentication and registration limits per source address (shared with the agent routes). */
  authLimits?: AuthLimits;
  /** Largest source bundle accepted, compressed (default 100 MB). */
  bundleLimitBytes?: number;
  /** Whether this replica runs the reconcile loop (api/leadership.ts), for /healthz. */
  leadership?: () => { role: string; term: number };
  /** Releases kept per service (FORGE_RELEASE_HISTORY); their bundles are kept with them. */
  releaseHistory?: number;
  /** The cron scheduler, for `POST /api/v1/jobs/:service/:job/trigger`. */
  jobs?: ApiContext['jobs'];
  /** Test-only six-field schedules (see specs/rules.ts). */
  secondSchedules?: boolean;
  /** Resolves image tags to digests (default: skopeo with the stored registry credentials). */
  pinImage?: (image: string) => Promise<string>;
  /** false: image tags are not pinned at write time (FORGE_IMAGE_PINNING=agent). */
  pinImages?: boolean;
}

const noObserve = async (): Promise<Observed[]> => [];

/** Request log lines carry the method, the path without its query and the request id: no headers, no bodies. */
const serializers = {
  req(request: { method: string; url: string; id: string }) {
    return { method: request.method, path: request.url.split('?')[0], id: request.id };
  },
  res(reply: { statusCode: number }) {
    return { statusCode: reply.statusCode };
  },
};

export function buildApi(deps: ApiDeps): FastifyInstance {
  const logger = deps.logger === undefined || deps.logger === false ? false
    : { ...(deps.logger === true ? {} : deps.logger), serializers };
  const app = Fastify({
    logger,
    bodyLimit: deps.bodyLimit ?? BODY_LIMIT,
    requestIdHeader: false,
    // Agents hold keep-alive connections; closing must not wait for them to time out.
    forceCloseConnections: true,
    genReqId: () => randomBytes(6).toString('hex'),
  });
  // Bodies are JSON: types are checked as sent ("80" is not a port). Query strings and params are
  // text by nature and are coerced. Unknown keys are reported, never silently dropped.
  const ajvOptions = { allErrors: true, removeAdditional: false, useDefaults: false, allowUnionTypes: true, strict: false } as const;
  const strictAjv = new Ajv({ ...ajvOptions, coerceTypes: false });
  const coercingAjv = new Ajv({ ...ajvOptions, coerceTypes: 'array' });
  app.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? strictAjv : coercingAjv).compile(schema));
  const ctx: ApiContext = {
    store: deps.store,
    cipher: deps.cipher,
    hashKey: secretHashKey(deps.config.encryptionKeys[0] as Buffer),
    nudge: (key) => deps.loop.nudge(key),
    providers: deps.providersConfig,
    domain: deps.config.domain ?? 'localhost',
    observe: deps.observe ?? noObserve,
    now: deps.now ?? Date.now,
    bundles: createBundleStore(join(deps.config.dataDir, 'bundles'), deps.bundleLimitBytes ?? DEFAULT_BUNDLE_LIMIT_BYTES),
    sourceFromBundlesOnly: deps.config.mode === 'production',
    releaseHistory: deps.releaseHistory ?? DEFAULT_RELEASE_HISTORY,
    ...(deps.deployToken ? { deployToken: deps.deployToken } : {}),
    ...(deps.logs ? { logs: deps.logs } : {}),
    ...(deps.providerEvents ? { providerEvents: deps.providerEvents } : {}),
    ...(deps.oneOffs ? { oneOffs: deps.oneOffs } : {}),
    ...(deps.flyAppName ? { flyAppName: deps.flyAppName } : {}),
    ...(deps.capabilities ? { capabilities: deps.capabilities } : {}),
    ...(deps.jobs ? { jobs: deps.jobs } : {}),
    ...(deps.pinImages === false ? {} : { pinImage: deps.pinImage ?? createImagePinner(deps.store, deps.cipher, deps.config.dataDir) }),
  };
  const metrics = installApiMetrics(deps.registry, deps.store);
  const limits = deps.authLimits ?? createAuthLimits({ now: ctx.now, registry: deps.registry });

  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler((request, reply) => {
    void reply.status(404).send({ error: 'E_NOT_FOUND', message: `no route ${request.method} ${request.url.split('?')[0]}` });
  });
  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    metrics.httpDuration.observe({ method: request.method, route, status_code: String(reply.statusCode) }, reply.elapsedTime / 1000);
  });

  // A load balancer may send writes anywhere; an operator reads here which replica leads.
  app.get('/healthz', async () => {
    if (deps.leadership === undefined) return { ok: true };
    const { role, term } = deps.leadership();
    return { ok: true, role, term };
  });
  const stopRetention = startRetentionTimer(ctx, ctx.releaseHistory, (error) => app.log.warn({ err: error }, 'retention sweep failed'));
  app.addHook('onClose', async () => stopRetention());
  void app.register(import('./routes/dashboard.ts')); // the dashboard's static files at / and /web/*, no auth (its API calls carry the key)
  registerMetricsRoute(app, deps.registry, deps.config.metricsToken);

  const deploy = deps.gitDeployer ?? createGitDeployer(ctx, { checkoutsDir: join(deps.config.dataDir, 'checkouts'), ...deps.gitDeploy });
  void app.register(webhookPlugin, {
    ctx,
    webhook: {
      allowedRepos: deps.config.allowedRepos,
      allowedBranches: deps.config.allowedBranches,
      ...(deps.config.gitUrlTemplate ? { gitUrlTemplate: deps.config.gitUrlTemplate } : {}),
      deploy,
      ...(deps.config.webhookSecret ? { secret: deps.config.webhookSecret } : {}),
      ...(deps.onBackground ? { onBackground: deps.onBackground } : {}),
      limits,
    },
  });

  // Every admin route sits in this context: the hook runs before the body is even read.
  void app.register(async (admin) => {
    admin.addHook('onRequest', async (request) => {
      // A source that failed too often is refused before its credential is looked at.
      limits.assertNotBlocked(request.ip, 'admin');
      try {
        request.principal = await authenticate(request, deps.store, deps.config.jwtSecret);
      } catch (error) {
        limits.failed(request.ip, 'admin');
        throw error;
      }
    });
    acceptEmptyJsonBodies(admin);
    registerServiceRoutes(admin, ctx);
    registerApplyRoute(admin, ctx);
    registerDeploymentRoutes(admin, ctx);
    registerRollbackRoute(admin, ctx);
    registerRestartRoute(admin, ctx);
    registerRunRoute(admin, ctx);
    registerReleasesRoute(admin, ctx);
    registerAgentRoutes(admin, ctx);
    registerRegistryRoutes(admin, ctx);
    registerUsageSink(admin);
    registerBundleRoutes(admin, ctx);
    registerJobRoutes(admin, ctx, deps.secondSchedules ?? false);
  });

  for (const plugin of deps.plugins ?? []) void app.register(plugin);
  return app;
}
