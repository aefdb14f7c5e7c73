// The whole HTTP surface for fuzzing through inject(): every admin route, the
// webhook (with a secret), /metrics, the dashboard and the agent protocol, on a
// temp-dir store holding one service, one registered agent and its token. Claims
// long-poll for a few ms only, so a fuzz case never waits 25 s.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { agentRoutes } from '../../api/agent-routes.ts';
import { generateApiKey } from '../../api/auth.ts';
import { createAuthLimits } from '../../api/auth-limits.ts';
import { buildApi } from '../../api/server.ts';
import { createReconcilerMetrics } from '../../reconciler/metrics.ts';
import { createCipher } from '../../store/cipher.ts';
import { openStore, type Store } from '../../store/index.ts';
import { ALL_PROVIDERS, ENCRYPTION_KEY, JWT_SECRET } from '../api/helpers.ts';

export const WEBHOOK_SECRET = 'fuzz-webhook-secret';
export const REGISTRATION_TOKEN = 'fuzz-registration-token';

export interface FuzzApi {
  app: FastifyInstance;
  store: Store;
  apiKey: string;
  agentId: string;
  agentToken: string;
  /** [method, path] of every route, HEAD left out (it mirrors GET), params still as `:name`. */
  routes: [string, string][];
  close(): Promise<void>;
}

/** Reads fastify's route tree (`printRoutes`) back into full paths with their methods. */
export function routesOf(tree: string): [string, string][] {
  const out: [string, string][] = [];
  const stack: string[] = [];
  for (const line of tree.split('\n')) {
    const m = /^(?<indent>.*?)(?:└── |├── )(?<segment>\S+) \((?<methods>[^)]+)\)$/.exec(line) ?? /^(?<indent>.*?)(?:└── |├── )(?<segment>\S+)$/.exec(line);
    if (!m?.groups) continue;
    const depth = m.groups.indent!.length / 4;
    const parent = depth === 0 ? '' : stack[depth - 1] ?? '';
    const segment = m.groups.segment!;
    const full = depth === 0 ? segment : parent.endsWith('/') || segment.startsWith('/') ? parent + segment : `${parent}/${segment}`;
    stack[depth] = full;
    stack.length = depth + 1;
    for (const method of (m.groups.methods ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '' && s !== 'HEAD')) {
      out.push([method, full]);
    }
  }
  return out;
}

export async function fuzzApi(): Promise<FuzzApi> {
  const dir = mkdtempSync(join(tmpdir(), 'forge-fuzz-api-'));
  const store = openStore(dir);
  const metrics = createReconcilerMetrics();
  const { key, hash, prefix } = generateApiKey();
  store.apiKeys.create({ name: 'fuzz', hash, prefix });
  const app = buildApi({
    store,
    cipher: createCipher([ENCRYPTION_KEY]),
    loop: { nudge: () => {} },
    providersConfig: ALL_PROVIDERS,
    registry: metrics.registry,
    config: {
      jwtSecret: JWT_SECRET, encryptionKeys: [ENCRYPTION_KEY], allowedRepos: ['acme/app'], allowedBranches: ['main'],
      dataDir: dir, webhookSecret: WEBHOOK_SECRET,
    },
    // A verified push must not clone anything here: the deployer records and returns.
    gitDeployer: async () => {},
    // Fuzzing sends thousands of bad credentials from one address on purpose; the limit itself is tested in test/api/rate-limit.test.ts.
    authLimits: createAuthLimits({ failures: { burst: 1_000_000, perSecond: 1 } }),
    // Source deploys are configured, so their bodies reach validation.
    deployToken: async (name) => ({ app: name, token: `fuzz-token-${name}`, expiresAt: 0 }),
    plugins: [agentRoutes({ store, registrationTokens: [REGISTRATION_TOKEN], secretsFor: () => ({}), maxClaimWaitMs: 20, claimPollMs: 5 })],
  });
  await app.ready();
  const registered = await app.inject({
    method: 'POST', url: '/api/agents/register', headers: { authorization: `Bearer ${REGISTRATION_TOKEN}` },
    payload: { name: 'fuzz-agent', capacity: { cpus: 2, memoryBytes: 2 * 1024 ** 3 } },
  });
  if (registered.statusCode !== 201) throw new Error(`agent registration failed: ${registered.body}`);
  const agent = registered.json() as { id: string; token: string };
  const created = await app.inject({ method: 'POST', url: '/api/compute/services', headers: { 'x-api-key': key }, payload: { name: 'web', image: 'nginx:1' } });
  if (created.statusCode !== 201) throw new Error(`service creation failed: ${created.body}`);
  return {
    app, store, apiKey: key, agentId: agent.id, agentToken: agent.token,
    routes: routesOf(app.printRoutes({ commonPrefix: false })),
    async close() {
      await app.close();
      store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
