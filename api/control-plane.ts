// startControlPlane: store + cipher + providers + controller + loop + the HTTP
// API, listening on FORGE_API_ADDR. Provider wiring is deliberately small here so
// providers/select.ts can replace `wireProviders` wholesale.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyPluginAsync, FastifyServerOptions } from 'fastify';
import { createFlyClient } from '../providers/fly/client.ts';
import { createFlyProvider, type FlyProvider } from '../providers/fly/provider.ts';
import type { Observed, Provider } from '../providers/types.ts';
import { createController } from '../reconciler/controller.ts';
import { createLoop } from '../reconciler/loop.ts';
import { createReconcilerMetrics } from '../reconciler/metrics.ts';
import { ForgeError } from '../specs/errors.ts';
import { parseEncryptionKey } from '../store/cipher.ts';
import { openStore, type Store } from '../store/index.ts';
import { SECRET_FILES, type Config } from './config.ts';
import type { ApiContext, ProvidersConfig } from './context.ts';
import { createSecretsFor, reloadingCipher } from './secrets.ts';
import { buildApi } from './server.ts';

type Env = Readonly<Record<string, string | undefined>>;

export interface ControlPlaneOptions {
  env?: Env;
  /** Providers built elsewhere (the agent provider); Fly is added here when FLY_API_TOKEN is set. */
  providers?: Provider[];
  plugins?: FastifyPluginAsync[];
  logs?: ApiContext['logs'];
  logger?: FastifyServerOptions['logger'];
  /** Passed through for the agent helper: do not start the embedded local agent. */
  noLocalAgent?: boolean;
  resyncIntervalMs?: number;
}

export interface ControlPlane {
  url: string;
  store: Store;
  providersConfig: ProvidersConfig;
  nudge(key: string): void;
  close(): Promise<void>;
}

export interface WiredProviders {
  providers: Provider[];
  config: ProvidersConfig;
  fly?: FlyProvider;
}

/** Which providers run, decided once at start. Fly needs FLY_API_TOKEN and FLY_ORG. */
export function wireProviders(env: Env, given: readonly Provider[]): WiredProviders {
  const providers = [...given];
  let fly: FlyProvider | undefined;
  const token = env.FLY_API_TOKEN?.trim();
  if (token) {
    const org = env.FLY_ORG?.trim();
    if (!org) throw new ForgeError('E_USAGE', 'FLY_ORG is required when FLY_API_TOKEN is set (the Fly organization slug)');
    const client = createFlyClient({ token, org, ...(env.FLY_API_HOSTNAME ? { baseUrl: env.FLY_API_HOSTNAME } : {}) });
    fly = createFlyProvider({ client, org, projectId: env.PROJECT_ID?.trim() || 'forge' });
    providers.push(fly);
  }
  const has = (name: string) => providers.some((p) => p.name === name);
  const config: ProvidersConfig = {
    agent: has('agent') ? { configured: true } : { configured: false, reason: 'no agent provider is running on this control plane' },
    fly: fly ? { configured: true, reason: `FLY_ORG ${env.FLY_ORG?.trim()}` } : { configured: false, reason: 'FLY_API_TOKEN is not set' },
    cloud: has('cloud') ? { configured: true } : { configured: false, reason: 'PROJECT_ID and CLOUD_API_HOST are not set' },
  };
  return { providers, config, ...(fly ? { fly } : {}) };
}

function keyLoader(config: Config, env: Env): () => Buffer[] {
  if (env.FORGE_ENCRYPTION_KEY?.trim()) return () => config.encryptionKeys;
  const file = join(config.dataDir, SECRET_FILES.encryptionKey);
  return () => {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      return config.encryptionKeys; // keys given another way (tests, embedders): nothing to re-read
    }
    return text.split(/\s+/).filter((s) => s !== '').map(parseEncryptionKey);
  };
}

export async function startControlPlane(config: Config, options: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const env = options.env ?? process.env;
  const wired = wireProviders(env, options.providers ?? []);
  const store = openStore(config.dataDir);
  const cipher = reloadingCipher(keyLoader(config, env));
  const metrics = createReconcilerMetrics();
  const providerFor = (name: string) => wired.providers.find((p) => p.name === name);
  const controller = createController({
    store, provider: providerFor, providers: () => wired.providers,
    secretsFor: createSecretsFor(store, cipher), now: Date.now, metrics,
  });
  const loop = createLoop({
    store, controller, providers: () => wired.providers, metrics,
    ...(options.resyncIntervalMs !== undefined ? { resyncIntervalMs: options.resyncIntervalMs } : {}),
  });
  const observe = async (keys: readonly string[]): Promise<Observed[]> => {
    const wanted = new Set(keys);
    const all = await Promise.all(wired.providers.map((p) => p.observe(keys).catch(() => [] as Observed[])));
    return all.flat().filter((o) => wanted.has(o.key));
  };
  const app = buildApi({
    store, cipher, config, loop, providersConfig: wired.config, registry: metrics.registry, observe,
    logger: options.logger ?? { level: 'info' },
    ...(wired.fly ? { deployToken: (name: string, ttl?: number) => wired.fly!.mintDeployToken(name, ttl) } : {}),
    ...(options.logs ? { logs: options.logs } : {}),
    ...(options.plugins ? { plugins: options.plugins } : {}),
  });
  loop.start();
  let address: string;
  try {
    address = await app.listen({ host: config.apiAddr.host, port: config.apiAddr.port });
  } catch (cause) {
    await loop.stop();
    store.close();
    throw new ForgeError('E_USAGE', `cannot listen on ${config.apiAddr.host}:${config.apiAddr.port} (FORGE_API_ADDR): ${(cause as Error).message}`, { cause });
  }
  let closed = false;
  return {
    url: address,
    store,
    providersConfig: wired.config,
    nudge: (key) => loop.nudge(key),
    async close() {
      if (closed) return;
      closed = true;
      await app.close();
      await loop.stop();
      for (const provider of wired.providers) await provider.close?.();
      store.close();
    },
  };
}
