// API throughput on this machine: the real control plane (store, loop, HTTP) on
// 127.0.0.1:0 with the world provider standing in for agents, driven by
// autocannon for ~5 s per route. Prints `upsert: N req/s` and `get: N req/s`.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { generateApiKey } from '../api/auth.ts';
import { resolveConfig } from '../api/config.ts';
import { startControlPlane } from '../api/control-plane.ts';
import { openWorldProvider } from '../test/fakes/world-provider.ts';

// autocannon ships no types; this is the slice of its library API used here.
interface CannonResult { requests: { average: number }; latency: { p50: number; p99: number }; non2xx: number; errors: number }
type CannonOptions = { url: string; method?: string; headers?: Record<string, string>; body?: string; connections?: number; duration?: number };
const autocannon = createRequire(import.meta.url)('autocannon') as (opts: CannonOptions) => Promise<CannonResult>;

const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 5);

async function run(name: string, opts: CannonOptions): Promise<void> {
  const result = await autocannon({ connections: 10, duration: DURATION_S, ...opts });
  const bad = result.non2xx + result.errors;
  console.log(`${name}: ${Math.round(result.requests.average)} req/s (p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms${bad ? `, ${bad} failed` : ''})`);
}

const dir = mkdtempSync(join(tmpdir(), 'forge-bench-api-'));
const { config } = resolveConfig({ FORGE_DATA_DIR: dir, FORGE_API_ADDR: '127.0.0.1:0' }, {}, (n) => Buffer.alloc(n, 5), dir);
const plane = await startControlPlane(config, { env: {}, providers: [openWorldProvider({ path: ':memory:' })], logger: false });
try {
  const key = generateApiKey();
  plane.store.apiKeys.create({ name: 'bench', hash: key.hash, prefix: key.prefix });
  const headers = { 'x-api-key': key.key, 'content-type': 'application/json' };
  for (let i = 0; i < 20; i += 1) {
    await fetch(`${plane.url}/api/compute/services`, { method: 'POST', headers, body: JSON.stringify({ name: `svc-${i}`, image: 'nginx:1', envVars: { TOKEN: `t${i}` } }) });
  }
  await run('upsert', {
    url: `${plane.url}/api/compute/services`, method: 'POST', headers,
    body: JSON.stringify({ name: 'bench-web', image: 'nginx:1.27', port: 80, memory: 512, envVars: { DB_PASSWORD: 'bench' } }),
  });
  await run('get', { url: `${plane.url}/api/compute/services`, headers });
} finally {
  await plane.close();
  rmSync(dir, { recursive: true, force: true });
}
