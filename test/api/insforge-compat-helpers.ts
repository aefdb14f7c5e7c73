// A Forge API on loopback over the real Fly provider and the Fly fake, called the
// way InsForge's CLI calls InsForge Compute: `Authorization: Bearer ik_…`,
// `Content-Type: application/json` on every request (also with no body), `imageUrl`,
// never `provider`. For the issue 23 contract tests.

import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { generateApiKey } from '../../api/auth.ts';
import type { ProvidersConfig } from '../../api/context.ts';
import { buildApi } from '../../api/server.ts';
import { createReconcilerMetrics } from '../../reconciler/metrics.ts';
import { createCipher } from '../../store/cipher.ts';
import { startFlyHarness, type FlyHarness } from '../fakes/fly-harness.ts';
import { ENCRYPTION_KEY, JWT_SECRET } from './helpers.ts';

/** What a control plane with agents and Fly reports: agents run source folders, Fly runs images. */
export const AGENTS_AND_FLY: ProvidersConfig = {
  agent: { configured: true, runs: { images: false, source: true } },
  fly: { configured: true, runs: { images: true, source: false } },
  cloud: { configured: false, reason: 'PROJECT_ID is not set' },
};

export interface Reply {
  status: number;
  /** Parsed JSON, or null for an empty body. */
  json: unknown;
}

export interface CompatServer {
  fly: FlyHarness;
  app: FastifyInstance;
  key: string;
  url: string;
  /** A request as InsForge's CLI sends it (its `ossFetch`): Bearer key, JSON content type always. */
  insforge(path: string, init?: { method?: string; body?: unknown; headers?: Record<string, string> }): Promise<Reply>;
  close(): Promise<void>;
}

export async function startCompatServer(): Promise<CompatServer> {
  const fly = await startFlyHarness({ projectId: 'p1' });
  const dataDir = mkdtempSync(join(tmpdir(), 'forge-insforge-'));
  const { key, hash, prefix } = generateApiKey();
  fly.store.apiKeys.create({ name: 'insforge-cli', hash, prefix });
  const app = buildApi({
    store: fly.store,
    cipher: createCipher([ENCRYPTION_KEY]),
    config: { jwtSecret: JWT_SECRET, encryptionKeys: [ENCRYPTION_KEY], allowedRepos: [], allowedBranches: ['main'], dataDir },
    loop: { nudge: (k) => fly.loop.nudge(k) },
    providersConfig: AGENTS_AND_FLY,
    registry: createReconcilerMetrics().registry,
    observe: (keys) => fly.provider.observe(keys),
    deployToken: (name, ttl) => fly.provider.mintDeployToken(name, ttl),
    flyAppName: (name) => fly.provider.appName(name),
    capabilities: (name) => [fly.provider].find((p) => p.name === name)?.capabilities,
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  return {
    fly, app, key, url,
    async insforge(path, init = {}) {
      const res = await fetch(`${url}${path}`, {
        method: init.method ?? 'GET',
        headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${key}`, ...init.headers },
        ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
      });
      const text = await res.text();
      return { status: res.status, json: text === '' ? null : JSON.parse(text) };
    },
    async close() {
      await app.close();
      await fly.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
