// An API on a temp-dir store with a captured log, an API key and JWT minting.
// `withLoop: true` wires a real controller + loop over the world provider, so
// services reach `running` the way they would on a real control plane.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import type { FastifyInstance } from 'fastify';
import { buildApi, type ApiDeps } from '../../api/server.ts';
import { generateApiKey } from '../../api/auth.ts';
import type { ProvidersConfig } from '../../api/context.ts';
import { createSecretsFor } from '../../api/secrets.ts';
import { createController } from '../../reconciler/controller.ts';
import { createLoop, type Loop } from '../../reconciler/loop.ts';
import { createReconcilerMetrics, type ReconcilerMetrics } from '../../reconciler/metrics.ts';
import { createCipher, type Cipher } from '../../store/cipher.ts';
import { openStore, type Store } from '../../store/index.ts';
import { openWorldProvider, type WorldProvider } from '../fakes/world-provider.ts';
import type { ProviderCapabilities } from '../../providers/types.ts';
import type { ProviderName } from '../../specs/types.ts';

export const JWT_SECRET = new TextEncoder().encode('test-jwt-secret-0123456789abcdef');
export const ENCRYPTION_KEY = Buffer.alloc(32, 7);

export const ALL_PROVIDERS: ProvidersConfig = {
  agent: { configured: true },
  fly: { configured: true },
  cloud: { configured: false, reason: 'PROJECT_ID and CLOUD_API_HOST are not set' },
};

/** The providers' capabilities as the real ones declare them (each provider.ts under providers/). */
export const REAL_CAPABILITIES: Record<ProviderName, ProviderCapabilities> = {
  agent: { updateInPlace: false, runsImages: false, runsSource: true, routing: 'forge' },
  fly: { updateInPlace: true, runsImages: true, runsSource: false, routing: 'provider', registryPerService: true },
  cloud: { updateInPlace: true, runsImages: true, runsSource: false, routing: 'provider' },
};

export interface ApiHarness {
  app: FastifyInstance;
  store: Store;
  cipher: Cipher;
  dir: string;
  metrics: ReconcilerMetrics;
  logs: string[];
  nudged: string[];
  key: string;
  provider?: WorldProvider;
  loop?: Loop;
  background: Promise<void>[];
  auth(): Record<string, string>;
  jwt(claims?: Record<string, unknown>, options?: { expiresIn?: string | number; secret?: Uint8Array; noExp?: boolean }): Promise<string>;
  close(): Promise<void>;
}

export interface HarnessOptions extends Partial<Omit<ApiDeps, 'config'>> {
  withLoop?: boolean;
  config?: Partial<ApiDeps['config']>;
}

export async function apiHarness(options: HarnessOptions = {}): Promise<ApiHarness> {
  const dir = mkdtempSync(join(tmpdir(), 'forge-api-'));
  const store = openStore(dir);
  const cipher = createCipher([ENCRYPTION_KEY]);
  const metrics = createReconcilerMetrics();
  const logs: string[] = [];
  const nudged: string[] = [];
  const background: Promise<void>[] = [];
  let provider: WorldProvider | undefined;
  let loop: Loop | undefined;
  if (options.withLoop) {
    provider = openWorldProvider({ path: ':memory:' });
    const providers = () => [provider!];
    const controller = createController({
      store, provider: (name) => providers().find((p) => p.name === name), providers,
      secretsFor: createSecretsFor(store, cipher), now: Date.now, metrics, pollMs: 50,
    });
    loop = createLoop({ store, controller, providers, resyncIntervalMs: 100, metrics, backoff: { baseMs: 20, maxMs: 100 } });
    loop.start();
  }
  const { key, hash, prefix } = generateApiKey();
  store.apiKeys.create({ name: 'test', hash, prefix });
  const app = buildApi({
    store,
    cipher,
    loop: { nudge: (k) => { nudged.push(k); loop?.nudge(k); } },
    providersConfig: ALL_PROVIDERS,
    capabilities: (name) => REAL_CAPABILITIES[name],
    registry: metrics.registry,
    logger: { level: 'debug', stream: { write: (line: string) => { logs.push(line); } } },
    onBackground: (work) => { background.push(work); },
    ...(provider ? { observe: (keys) => provider!.observe(keys) } : {}),
    ...options,
    config: {
      jwtSecret: JWT_SECRET, encryptionKeys: [ENCRYPTION_KEY], allowedRepos: [], allowedBranches: ['main'], dataDir: dir,
      ...options.config,
    },
  });
  await app.ready();
  return {
    app, store, cipher, dir, metrics, logs, nudged, key, background,
    ...(provider ? { provider } : {}),
    ...(loop ? { loop } : {}),
    auth: () => ({ 'x-api-key': key }),
    async jwt(claims = { role: 'admin' }, opts = {}) {
      const builder = new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setSubject('ci-bot').setIssuedAt();
      if (!opts.noExp) builder.setExpirationTime(opts.expiresIn ?? '5m');
      return builder.sign(opts.secret ?? JWT_SECRET);
    },
    async close() {
      await app.close();
      await Promise.allSettled(background);
      await loop?.stop();
      await provider?.close?.();
      store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Polls `check` (bounded in count) until it returns a value. */
export async function eventually<T>(check: () => T | undefined | Promise<T | undefined>, tries = 200, delayMs = 25): Promise<T> {
  for (let i = 0; i < tries; i += 1) {
    const value = await check();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, delayMs));
  }
  throw new Error(`condition not met after ${tries} tries`);
}
