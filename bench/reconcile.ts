// The cost of a no-op pass: 10,000 services that are all up to date, one resync
// over all of them. Prints the median of 5 passes, the provider calls a pass
// makes, and the RSS of a control plane holding 10,000 services.
// Run: npx tsx bench/reconcile.ts
//
// Targets (issue 3): no-op pass ≤ 25 ms, 0 writes and no per-service reads, RSS ≤ 150 MB.
//
// BENCH_DATABASE_URL=postgres://… keeps the store in that (empty) PostgreSQL database instead of
// SQLite; BENCH_ENGINES=both starts a throwaway cluster (test/store/pg-cluster.ts) and prints
// the figures of both engines one after the other.
//
// The services are created and converged in a child process first; the figures
// come from a fresh process that opens that data dir, as a restarted control
// plane would, so setup garbage does not count toward RSS.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openStore } from '../store/index.ts';
import { createController } from '../reconciler/controller.ts';
import { createLoop } from '../reconciler/loop.ts';
import { applySet } from '../api/service-apply-set.ts';
import { specHash } from '../specs/hash.ts';
import { SPEC_DEFAULTS, type ServiceSpec } from '../specs/types.ts';
import { openWorldProvider } from '../test/fakes/world-provider.ts';
import { forgeNodeFlags } from './lib/node-flags.ts';

const SERVICES = Number(process.env.BENCH_SERVICES ?? 10_000);
const PASSES = Number(process.env.BENCH_PASSES ?? 5);

function spec(i: number): ServiceSpec {
  return {
    name: `svc-${i}`, provider: 'agent', image: `registry.example/app:${i % 7}`, port: 8080, region: 'iad',
    env: { MODE: 'bench' }, secrets: [], replicas: 1 + (i % 3), domains: [], autoStop: false,
    resources: { memoryMb: SPEC_DEFAULTS.memoryMb, cpus: 0.5, cpuKind: 'shared' }, health: { ...SPEC_DEFAULTS.health },
  };
}

function wire(dir: string) {
  const store = openStore(process.env.BENCH_DATABASE_URL || dir);
  const provider = openWorldProvider({ path: join(dir, 'world.db'), minResyncIntervalMs: 60_000 });
  const controller = createController({
    store, provider: () => provider, providers: () => [provider], secretsFor: () => ({}), now: Date.now, pollMs: 60_000,
  });
  const loop = createLoop({ store, controller, providers: () => [provider], resyncIntervalMs: 0, concurrency: 16 });
  return { store, provider, loop };
}

async function setup(dir: string): Promise<void> {
  const { store, provider, loop } = wire(dir);
  applySet(store, 'bench', Array.from({ length: SERVICES }, (_, i) => {
    const s = spec(i);
    return { spec: s, hash: specHash(s) };
  }));
  loop.start();
  for (let pass = 0; pass < 10; pass += 1) {
    const report = await loop.resync();
    await loop.idle();
    if (report.queued === 0) break;
  }
  await loop.stop();
  const running = store.status.all().filter((s) => s.phase === 'running').length;
  console.log(`setup: ${SERVICES} services, ${running} running, ${provider.world.all().length} instances`);
  await provider.close?.();
  store.close();
}

async function measure(dir: string): Promise<void> {
  const { store, provider, loop } = wire(dir);
  loop.start();
  await loop.resync(); // the first pass after a restart warms the caches
  await loop.idle();
  const times: number[] = [];
  const before = { ...provider.stats };
  for (let pass = 0; pass < PASSES; pass += 1) {
    const start = process.hrtime.bigint();
    const report = await loop.resync();
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
    if (report.queued !== 0) console.log(`warning: pass ${pass} queued ${report.queued} keys`);
  }
  await loop.idle();
  const after = provider.stats;
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)]!;
  const perPass = (n: number) => (n / PASSES).toFixed(1);
  console.log(`no-op pass: ${median.toFixed(1)} ms (median of ${PASSES} over ${SERVICES} services; all: ${times.map((t) => t.toFixed(1)).join(', ')}; target ≤ 25 ms)`);
  console.log(`provider calls per no-op pass: observe ${perPass(after.observeCalls - before.observeCalls)} (one bulk, from cache), remote reads ${perPass(after.remoteReads - before.remoteReads)}, remote writes ${perPass(after.remoteWrites - before.remoteWrites)} (target: 0 writes, no per-service reads)`);
  const rss = process.memoryUsage().rss / (1024 * 1024);
  if (process.env.BENCH_DEBUG) console.log(process.memoryUsage());
  console.log(`rss with ${SERVICES} services: ${rss.toFixed(0)} MB (target ≤ 150 MB)`);
  await loop.stop();
  await provider.close?.();
  store.close();
}

const [mode, given] = process.argv.slice(2);
if (mode === '--setup' && given) {
  await setup(given);
} else if (mode === '--measure' && given) {
  await measure(given);
} else {
  const runs: { engine: string; url: string | undefined }[] = [{ engine: 'sqlite', url: process.env.BENCH_DATABASE_URL }];
  const cluster = process.env.BENCH_ENGINES === 'both'
    ? await (await import('../test/store/pg-cluster.ts')).startPgCluster()
    : undefined;
  if (cluster) runs.push({ engine: 'postgres', url: cluster.adminUrl });
  try {
    for (const { engine, url } of runs) {
      if (runs.length > 1) console.log(`--- ${engine}`);
      const dir = mkdtempSync(join(tmpdir(), 'forge-bench-reconcile-'));
      try {
        const self = fileURLToPath(import.meta.url);
        for (const step of ['--setup', '--measure']) {
          // As `forge server` runs: with the V8 flags of bin/forge's shebang.
          const run = spawnSync(process.execPath, [...forgeNodeFlags(), '--import', 'tsx', self, step, dir], {
            stdio: 'inherit', env: { ...process.env, BENCH_DATABASE_URL: url ?? '' },
          });
          if (run.status !== 0) process.exit(run.status ?? 1);
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  } finally {
    await cluster?.stop();
  }
}
