// startControlPlane: store + cipher + providers + controller + loop + the HTTP
// API, listening on FORGE_API_ADDR, and its orderly close. What to wire (which
// providers, key reloading, limits from the environment) is decided in startup.ts.

import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { FastifyPluginAsync, FastifyServerOptions } from 'fastify';
import { registryAuthFor } from './registries.ts';
import { controlPlaneId } from './control-plane-id.ts';
import { createAgentProvider, type AgentProvider } from '../providers/agent/provider.ts';
import { registerAgentsOnlineGauge } from '../providers/agent/metrics.ts';
import { createLocalAgentToken, startLocalAgent } from '../agent/local.ts';
import type { AgentHandle } from '../agent/daemon.ts';
import type { RouteTable } from '../reconciler/controller.ts';
import { agentRoutes } from './agent-routes.ts';
import type { Observed, Provider } from '../providers/types.ts';
import { createController } from '../reconciler/controller.ts';
import { defaultResyncIntervalMs } from '../reconciler/resync-interval.ts';
import { createLoop } from '../reconciler/loop.ts';
import { createReconcilerMetrics } from '../reconciler/metrics.ts';
import { createJobScheduler } from '../reconciler/jobs/scheduler.ts';
import { createJobMetrics, jobSamples } from '../reconciler/jobs/metrics.ts';
import { secondSchedulesAllowed } from '../specs/rules.ts';
import { ForgeError } from '../errors/index.ts';
import { parseEncryptionKey } from '../store/cipher.ts';
import { createImagePinner, pinImage } from './image-pins.ts';
import type { ServiceSpec } from '../specs/types.ts';
import { isPostgresUrl, openStore, storeLocation, type Store } from '../store/index.ts';
import { type LeadershipState, startLeadership } from './leadership.ts';
import { createAuthLimits } from './auth-limits.ts';
import type { Config } from './config.ts';
import type { ApiContext, ProvidersConfig } from './context.ts';
import { createSecretsDigestFor, createSecretsFor, reloadingCipher, secretHashKey } from './secrets.ts';
import { logLevel } from './log-level.ts';
import { buildApi } from './server.ts';
import { bundleLimitBytes, keyLoader, releaseHistory, observeByOwnProvider, wireProviders, type Env, type WiredProviders } from './startup.ts';

export interface ControlPlaneOptions {
  env?: Env;
  /** Resolves an image tag to its digest (tests); default: skopeo with the stored registry credentials. */
  pinImage?: (image: string) => Promise<string>;
  /** Providers built elsewhere (the agent provider); Fly is added here when FLY_API_TOKEN is set. */
  providers?: Provider[];
  plugins?: FastifyPluginAsync[];
  logs?: ApiContext['logs'];
  logger?: FastifyServerOptions['logger'];
  /** Do not start the embedded local agent (agents run on other hosts). */
  noLocalAgent?: boolean;
  /** Options for the embedded agent (port range, mode, cgroup root). */
  localAgent?: { portRange?: { from: number; to: number }; heartbeatIntervalMs?: number; cgroupRoot?: string };
  /** Caddy's route table, when a router runs: agent services get routes and health-gated cutovers. */
  routes?: RouteTable & {
    replaceAll(entries: ReadonlyMap<string, { domains: string[]; upstreams: string[] }>, asOf: number): void;
    get(name: string): { domains: string[]; upstreams: string[] } | undefined;
    sync(): Promise<unknown>;
  };
  resyncIntervalMs?: number;
  /** Heartbeat interval agents are told to use; an agent is offline after three missed. */
  heartbeatIntervalMs?: number;
  /** Leader election with PostgreSQL (store/leader.ts): how often a standby tries, how long a silent leader keeps the lock. */
  leader?: { pollMs?: number; sessionTimeoutMs?: number };
}

export interface ControlPlane {
  url: string;
  store: Store;
  /** The embedded agent, when one runs. */
  localAgent?: AgentHandle;
  /** Observed state of these services across providers (from the providers' caches). */
  observe(keys: readonly string[]): Promise<Observed[]>;
  providersConfig: ProvidersConfig;
  nudge(key: string): void;
  /** The spec with its image tag pinned to a digest, as the API's writes do (api/image-pins.ts); forge dev applies through it. */
  pinSpec(spec: ServiceSpec): Promise<ServiceSpec>;
  close(): Promise<void>;
}

export async function startControlPlane(config: Config, options: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const env = options.env ?? process.env;
  // Checked before anything starts: a typo in FORGE_LOG_LEVEL is a start-up error, not a half-started server.
  const level = logLevel(env, config.mode);
  const location = storeLocation(env, config.dataDir);
  const store = openStore(location);
  // Answered by /healthz; set once the election (or the single process's loop) has started.
  let leadershipState: () => LeadershipState = () => ({ role: 'standby', term: 0, replica: '' });
  const heartbeatIntervalMs = options.heartbeatIntervalMs ?? 5_000;
  const given = options.providers ?? [];
  const agentProvider: AgentProvider | undefined = given.some((p) => p.name === 'agent') ? undefined
    : createAgentProvider({ store, heartbeatTimeoutMs: heartbeatIntervalMs * 3, domain: config.domain });
  let wired: WiredProviders;
  // Remote objects this control plane leaves alone (not its own) are logged once the API's logger exists.
  let warn: (message: string) => void = () => {};
  try {
    const ownership = { controlPlaneId: controlPlaneId(config.dataDir), report: (message: string) => warn(message) };
    wired = wireProviders(env, agentProvider ? [agentProvider, ...given] : given, ownership);
  } catch (error) {
    store.close();
    throw error;
  }
  const cipher = reloadingCipher(keyLoader(config, env));
  const metrics = createReconcilerMetrics();
  const providerFor = (name: string) => wired.providers.find((p) => p.name === name);
  const secretsFor = createSecretsFor(store, cipher);
  registerAgentsOnlineGauge(metrics.registry, store);
  const controller = createController({
    store, provider: providerFor, providers: () => wired.providers,
    secretsFor, now: Date.now, metrics,
    secretsDigest: createSecretsDigestFor(store, cipher, secretHashKey(config.encryptionKeys[0] as Buffer)),
    ...(options.routes ? { routes: options.routes } : {}),
  });
  const loop = createLoop({
    store, controller, providers: () => wired.providers, metrics,
    ...(options.routes ? { routes: options.routes } : {}),
    resyncIntervalMs: options.resyncIntervalMs ?? defaultResyncIntervalMs(isPostgresUrl(location)),
  });
  const localToken = agentProvider && !options.noLocalAgent ? createLocalAgentToken() : undefined;
  const observe = (keys: readonly string[]): Promise<Observed[]> =>
    observeByOwnProvider(keys, (key) => store.services.get(key)?.spec.provider, providerFor);
  const authLimits = createAuthLimits({ registry: metrics.registry });
  // Cron jobs: started beside the loop (with several control planes, only the leader's should run).
  const jobs = createJobScheduler({
    store, allowSeconds: secondSchedulesAllowed(), log: (line) => warn(line),
    metrics: createJobMetrics(metrics.registry, () => jobSamples(store, Date.now(), secondSchedulesAllowed())),
  });
  // One resolver for the API's writes and forge dev's applies (pinSpec below).
  // FORGE_IMAGE_PINNING=agent: no resolver here; agents resolve and the release records their digest.
  const pinner = options.pinImage ?? (config.imagePinning === 'agent' ? undefined : createImagePinner(store, cipher, config.dataDir));
  const app = buildApi({
    jobs, secondSchedules: secondSchedulesAllowed(), ...(pinner ? { pinImage: pinner } : {}), pinImages: pinner !== undefined,
    store, cipher, config, loop, providersConfig: wired.config, registry: metrics.registry, observe, authLimits,
    leadership: () => leadershipState(),
    ...(bundleLimitBytes(env) === undefined ? {} : { bundleLimitBytes: bundleLimitBytes(env)! }),
    ...(releaseHistory(env) === undefined ? {} : { releaseHistory: releaseHistory(env)! }),
    logger: options.logger ?? { level },
    ...(wired.fly ? { deployToken: (name: string, ttl?: number) => wired.fly!.mintDeployToken(name, ttl) } : {}),
    ...(wired.fly ? { flyAppName: (name: string) => wired.fly!.appName(name) } : {}),
    ...(options.logs ? { logs: options.logs } : {}),
    providerEvents: async (key, name) => (await providerFor(name)?.events(key)) ?? [],
    capabilities: (name) => providerFor(name)?.capabilities,
    oneOffs: { provider: providerFor, secretsFor },
    plugins: [
      ...(agentProvider ? [agentRoutes({
        store, hub: agentProvider.hub, leaseMs: agentProvider.leaseMs, heartbeatIntervalMs, secretsFor, limits: authLimits, bundlesDir: join(config.dataDir, 'bundles'),
        registryFor: (image: string | undefined) => registryAuthFor(store, cipher, image),
        registrationTokens: [env.FORGE_AGENT_TOKEN?.trim(), localToken].filter((t): t is string => Boolean(t)),
      })] : []),
      ...(options.plugins ?? []),
    ],
  });
  warn = (message) => app.log.warn(message);
  const leadership = startLeadership({
    store, registry: metrics.registry,
    // The leader runs the reconcile loop (with it the route sync) and the cron scheduler; standbys neither.
    // A standby's provider caches saw only what reached this replica: a new leader re-reads them
    // from the store before its first pass, or it would plan from a stale view (and, say, start
    // an instance an agent already runs).
    loop: {
      start: async () => {
        if (isPostgresUrl(location)) {
          for (const provider of wired.providers) await provider.resync?.(true).catch((error: Error) => app.log.warn(error.message));
        }
        loop.start();
        jobs.start();
      },
      stop: async () => { jobs.stop(); await loop.stop(); },
    },
    databaseUrl: isPostgresUrl(location) ? location : undefined,
    ...(env.FORGE_REPLICA?.trim() ? { replica: env.FORGE_REPLICA.trim() } : {}),
    ...(options.leader?.pollMs !== undefined ? { pollMs: options.leader.pollMs } : {}),
    ...(options.leader?.sessionTimeoutMs !== undefined ? { sessionTimeoutMs: options.leader.sessionTimeoutMs } : {}),
    onError: (error) => app.log.warn(error.message),
  });
  leadershipState = () => leadership.state();
  let address: string;
  try {
    address = await app.listen({ host: config.apiAddr.host, port: config.apiAddr.port });
  } catch (cause) {
    await leadership.stop();
    for (const provider of wired.providers) await provider.close?.().catch(() => undefined);
    store.close();
    throw new ForgeError('E_USAGE', `cannot listen on ${config.apiAddr.host}:${config.apiAddr.port} (FORGE_API_ADDR): ${(cause as Error).message}`, { cause });
  }
  let localAgent: AgentHandle | undefined;
  if (localToken) {
    try {
      localAgent = await startLocalAgent({
        apiUrl: address, registrationToken: localToken, dataDir: config.dataDir, mode: config.mode,
        ...(options.localAgent?.portRange ? { portRange: options.localAgent.portRange } : {}),
        heartbeatIntervalMs: options.localAgent?.heartbeatIntervalMs ?? heartbeatIntervalMs,
        // One cgroup root per data dir: an agent sweeps its root at start, so two
        // control planes on one host must never share one.
        cgroupRoot: options.localAgent?.cgroupRoot ?? `forge-local-${createHash('sha256').update(config.dataDir).digest('hex').slice(0, 8)}`,
      });
    } catch (cause) {
      await leadership.stop();
      await app.close();
      for (const provider of wired.providers) await provider.close?.().catch(() => undefined);
      store.close();
      throw cause;
    }
  }
  let closed = false;
  return {
    url: address,
    store,
    ...(localAgent ? { localAgent } : {}),
    observe,
    providersConfig: wired.config,
    nudge: (key) => loop.nudge(key),
    pinSpec: (spec) => pinImage({ pinImage: pinner, providers: wired.config }, spec),
    async close() {
      if (closed) return;
      closed = true;
      // The loop first, so nothing new is queued for an agent that is leaving; then the
      // agent stops its instances; then the API, the providers and the store. Each step
      // runs even when an earlier one fails.
      const steps: Array<() => Promise<unknown> | unknown> = [
        () => leadership.stop(), () => localAgent?.stop(), () => app.close(),
        ...wired.providers.map((p) => () => p.close?.()), () => store.close(),
      ];
      let first: unknown;
      for (const step of steps) {
        try {
          await step();
        } catch (error) {
          first ??= error;
        }
      }
      if (first !== undefined) throw first;
    },
  };
}
