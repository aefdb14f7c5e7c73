// Upserts per second through the real HTTP API: the whole control plane (store on the engine the
// env selects, loop, leadership, HTTP) on 127.0.0.1:0, with the world provider standing in for
// agents, driven by autocannon. Two mixes:
//   same spec     - every request sends the spec already stored (a CI job re-applying): a read and
//                   no write, as bench/api.ts measures it;
//   new spec each - every request changes the image of one of 50 services: a write, a new
//                   generation and a nudge of the loop, which reconciles meanwhile.

import { createRequire } from 'node:module';
import { generateApiKey } from '../../api/auth.ts';
import { resolveConfig } from '../../api/config.ts';
import { startControlPlane } from '../../api/control-plane.ts';
import { openWorldProvider } from '../../test/fakes/world-provider.ts';

// autocannon ships no types; this is the slice of its library API used here.
interface CannonRequest { method?: string; path?: string; headers?: Record<string, string>; body?: string; setupRequest?: (req: CannonRequest) => CannonRequest }
interface CannonResult { requests: { average: number }; latency: { p50: number; p99: number }; non2xx: number; errors: number }
type CannonOptions = { url: string; method?: string; headers?: Record<string, string>; body?: string; requests?: CannonRequest[]; connections?: number; duration?: number };
const autocannon = createRequire(import.meta.url)('autocannon') as (opts: CannonOptions) => Promise<CannonResult>;

export interface UpsertRate {
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  failed: number;
}

export interface UpsertRates {
  same: UpsertRate;
  changing: UpsertRate;
}

const PATH = '/api/compute/services';

function rate(result: CannonResult): UpsertRate {
  return {
    perSecond: Math.round(result.requests.average), p50Ms: result.latency.p50, p99Ms: result.latency.p99,
    failed: result.non2xx + result.errors,
  };
}

/**
 * Waits (bounded) until this replica leads (at once on SQLite): the figures are of a settled
 * control plane, not of its first election, whose loop start re-reads every provider and row.
 */
async function leaderElected(url: string): Promise<void> {
  for (let i = 0; i < 300; i += 1) {
    const health = (await (await fetch(`${url}/healthz`)).json()) as { role?: string };
    if (health.role !== 'standby') return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error('no leader elected within 30 s');
}

/**
 * `dataDir`: the control plane's data dir; `databaseUrl`: PostgreSQL (FORGE_DATABASE_URL), or
 * undefined for SQLite in the data dir.
 */
export async function measureUpserts(dataDir: string, databaseUrl: string | undefined, durationS: number): Promise<UpsertRates> {
  const env: Record<string, string> = { FORGE_DATA_DIR: dataDir, FORGE_API_ADDR: '127.0.0.1:0' };
  if (databaseUrl) env.FORGE_DATABASE_URL = databaseUrl;
  const { config } = resolveConfig(env, {}, (n) => Buffer.alloc(n, 5), dataDir);
  const plane = await startControlPlane(config, { env, providers: [openWorldProvider({ path: ':memory:' })], logger: false });
  try {
    await leaderElected(plane.url);
    const key = generateApiKey();
    plane.store.apiKeys.create({ name: 'bench', hash: key.hash, prefix: key.prefix });
    const headers = { 'x-api-key': key.key, 'content-type': 'application/json' };
    const body = (name: string, image: string) => JSON.stringify({ name, image, port: 80, memory: 512, envVars: { DB_PASSWORD: 'bench' } });
    for (let i = 0; i < 50; i += 1) {
      const answer = await fetch(`${plane.url}${PATH}`, { method: 'POST', headers, body: body(`churn-${i}`, 'nginx:1.0') });
      if (!answer.ok) throw new Error(`seeding churn-${i}: HTTP ${answer.status} ${await answer.text()}`);
    }
    const same = await autocannon({
      url: `${plane.url}${PATH}`, method: 'POST', headers, body: body('bench-web', 'nginx:1.27'), connections: 10, duration: durationS,
    });
    let n = 0;
    const changing = await autocannon({
      url: plane.url, connections: 10, duration: durationS,
      requests: [{
        method: 'POST', path: PATH, headers,
        setupRequest: (req) => {
          n += 1;
          return { ...req, body: body(`churn-${n % 50}`, `nginx:1.${n}`) };
        },
      }],
    });
    return { same: rate(same), changing: rate(changing) };
  } finally {
    await plane.close();
  }
}
