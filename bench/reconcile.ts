// The cost of a no-op pass and the API upsert rate, on SQLite and PostgreSQL side by side.
// Run: npx tsx bench/reconcile.ts
//
// No-op pass: N services that are all up to date, one resync over all of them; median and p95 of
// BENCH_PASSES passes, the store statements and rows a pass reads, the provider calls it makes.
// Targets (issue 3, at 10,000 services): no-op pass ≤ 25 ms, 0 writes and no per-service reads,
// RSS ≤ 150 MB. Issue 20: the same on PostgreSQL, printed beside SQLite.
// API upserts: bench/lib/api-upserts.ts (the real control plane over HTTP, two request mixes).
//
// The services are created and converged in a child process first (on SQLite, then copied into
// PostgreSQL: see setup()); the figures come from a fresh process that opens that store, as a
// restarted control plane would, so setup garbage does not count toward RSS. PostgreSQL is a throwaway cluster (bench/lib/pg-server.ts) with a fresh
// database per run, stopped and removed at the end, also on failure.
//
// Knobs (environment):
//   BENCH_ENGINES        sqlite,postgres (default; `both` means the same) or one of them
//   BENCH_COUNTS         services per side-by-side no-op run, default 200,1000
//   BENCH_SERVICES       issue 3's count (target and RSS figures), default 10000; 0 skips it
//   BENCH_SERVICES_ENGINES  engines that run BENCH_SERVICES, default sqlite,postgres
//   BENCH_PASSES         no-op passes measured per run, default 20
//   BENCH_DURATION_S     seconds per API mix, default 5; 0 skips the API rates
//   BENCH_DATABASE_URL   a PostgreSQL server to use instead of a throwaway cluster (the bench
//                        creates and drops its own databases there)

import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createController } from '../reconciler/controller.ts';
import { createLoop } from '../reconciler/loop.ts';
import { applySet } from '../api/service-apply-set.ts';
import { specHash } from '../specs/hash.ts';
import { SPEC_DEFAULTS, type ServiceSpec } from '../specs/types.ts';
import { openWorldProvider } from '../test/fakes/world-provider.ts';
import type { UpsertRates } from './lib/api-upserts.ts';
import { openCountedStore } from './lib/counting-sql.ts';
import { forgeNodeFlags } from './lib/node-flags.ts';
import type { BenchPg } from './lib/pg-server.ts';
import { ms, percentile, renderSideBySide, type SideBySideRow } from './lib/side-by-side.ts';

type Engine = 'sqlite' | 'postgres';
const list = (text: string) => text.split(',').map((s) => s.trim()).filter((s) => s !== '');
const engineList = (text: string): Engine[] => (text === 'both' ? ['sqlite', 'postgres'] : list(text).map((e) => {
  if (e !== 'sqlite' && e !== 'postgres') throw new Error(`BENCH_ENGINES: unknown engine ${e} (sqlite, postgres)`);
  return e;
}));
const ENGINES = engineList(process.env.BENCH_ENGINES ?? 'sqlite,postgres');
const COUNTS = list(process.env.BENCH_COUNTS ?? '200,1000').map(Number);
const BIG = Number(process.env.BENCH_SERVICES ?? 10_000);
const BIG_ENGINES = engineList(process.env.BENCH_SERVICES_ENGINES ?? 'sqlite,postgres');
const PASSES = Number(process.env.BENCH_PASSES ?? 20);
const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 5);
for (const [name, values, least] of [['BENCH_COUNTS', COUNTS, 1], ['BENCH_SERVICES', [BIG], 0], ['BENCH_PASSES', [PASSES], 1], ['BENCH_DURATION_S', [DURATION_S], 0]] as const) {
  if (values.some((v) => !Number.isInteger(v) || v < least)) throw new Error(`${name} must be ${least === 0 ? 'whole numbers ≥ 0' : 'whole numbers ≥ 1'}, got ${values.join(',')}`);
}
const STORE = process.env.BENCH_STORE ?? '';
/** Issue 3's RSS figure was taken after 5 no-op passes; later passes' garbage moves it a few MB. */
const RSS_PASSES = 5;

function spec(i: number): ServiceSpec {
  return {
    name: `svc-${i}`, provider: 'agent', image: `registry.example/app:${i % 7}`, port: 8080, region: 'iad',
    env: { MODE: 'bench' }, secrets: [], replicas: 1 + (i % 3), domains: [], autoStop: false,
    resources: { memoryMb: SPEC_DEFAULTS.memoryMb, cpus: 0.5, cpuKind: 'shared' }, health: { ...SPEC_DEFAULTS.health },
  };
}

function wire(dir: string, location: string) {
  const { store, counts } = openCountedStore(location);
  const provider = openWorldProvider({ path: join(dir, 'world.db'), minResyncIntervalMs: 60_000 });
  const controller = createController({
    store, provider: () => provider, providers: () => [provider], secretsFor: () => ({}), now: Date.now, pollMs: 60_000,
  });
  const loop = createLoop({ store, controller, providers: () => [provider], resyncIntervalMs: 0, concurrency: 16 });
  return { store, counts, provider, loop };
}

interface SetupResult { running: number; instances: number; ms: number }
interface MeasureResult {
  times: number[]; statements: number; rows: number;
  /** services.summaries() alone, timed after the passes. */
  reads: number[];
  /** RSS after RSS_PASSES passes (where issue 3 measured it), and after all of them. */
  rss: number; rssEnd: number;
  observe: number; remoteReads: number; remoteWrites: number; queued: number;
}

/**
 * Creates and converges `count` services through the real loop on SQLite, once per count for
 * both engines: converging 10,000 services one round trip at a time through PostgreSQL would take
 * minutes and measure nothing this bench reports. PostgreSQL then gets a copy of that store, made
 * as `forge store migrate --to` makes it: exactly the rows a converged PostgreSQL holds.
 */
async function setup(dir: string, count: number): Promise<SetupResult> {
  const started = performance.now();
  const { store, provider, loop } = wire(dir, dir);
  applySet(store, 'bench', Array.from({ length: count }, (_, i) => {
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
  const instances = provider.world.all().length;
  await provider.close?.();
  store.close();
  return { running, instances, ms: performance.now() - started };
}

async function measure(dir: string): Promise<MeasureResult> {
  const { store, counts, provider, loop } = wire(dir, STORE || dir);
  loop.start();
  await loop.resync(); // the first pass after a restart warms the caches
  await loop.idle();
  const times: number[] = [];
  let queued = 0;
  const before = { ...provider.stats, ...counts };
  let rss = 0;
  for (let pass = 0; pass < PASSES; pass += 1) {
    const start = process.hrtime.bigint();
    const report = await loop.resync();
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
    queued += report.queued;
    if (pass + 1 === Math.min(RSS_PASSES, PASSES)) rss = process.memoryUsage().rss / (1024 * 1024);
  }
  const after = { ...provider.stats, ...counts };
  await loop.idle();
  // The store's share of a pass: the summaries read alone (cached, or the state_version check).
  const reads: number[] = [];
  for (let i = 0; i < PASSES; i += 1) {
    const start = process.hrtime.bigint();
    store.services.summaries();
    reads.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  const per = (n: number) => n / PASSES;
  const result: MeasureResult = {
    times, reads, statements: per(after.statements - before.statements), rows: per(after.rows - before.rows),
    rss, rssEnd: process.memoryUsage().rss / (1024 * 1024), observe: per(after.observeCalls - before.observeCalls),
    remoteReads: per(after.remoteReads - before.remoteReads), remoteWrites: per(after.remoteWrites - before.remoteWrites), queued,
  };
  await loop.stop();
  await provider.close?.();
  store.close();
  return result;
}

/** One step in a fresh child process (with bin/forge's V8 flags); its result comes back as JSON in `dir`. */
/** The step running now: SIGINT or SIGTERM ends it, and the bench fails and cleans up. */
let running: ChildProcess | null = null;
function endStepsOnSignal(): void {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (running?.pid !== undefined) process.kill(running.pid, 'SIGKILL');
    });
  }
}

/** One step in a fresh child process (with bin/forge's V8 flags); its result comes back as JSON in `dir`. */
async function child<T>(step: string, dir: string, store: string, count = 0): Promise<T> {
  const out = join(dir, `${step.slice(2)}.json`);
  const proc = spawn(process.execPath, [...forgeNodeFlags(), '--import', 'tsx', fileURLToPath(import.meta.url), step, dir, String(count), out], {
    stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, BENCH_STORE: store },
  });
  running = proc;
  const [code, signal] = (await once(proc, 'exit')) as [number | null, NodeJS.Signals | null];
  running = null;
  if (code !== 0) throw new Error(`${step} ${count} failed (exit ${code ?? signal})`);
  return JSON.parse(readFileSync(out, 'utf8')) as T;
}

const [mode, dirArg, countArg, outArg] = process.argv.slice(2);
if (mode === '--setup' || mode === '--measure' || mode === '--api') {
  const dir = dirArg as string;
  // The API's modules load only in the API step: they would count toward the no-op step's RSS.
  const result = mode === '--setup' ? await setup(dir, Number(countArg)) : mode === '--measure' ? await measure(dir)
    : await (await import('./lib/api-upserts.ts')).measureUpserts(dir, STORE || undefined, DURATION_S);
  writeFileSync(outArg as string, JSON.stringify(result));
} else {
  await main();
}

async function main(): Promise<void> {
  endStepsOnSignal();
  // Loaded here, not at the top: the measuring child processes must not carry them in their RSS.
  const { benchPgSkipReason, startBenchPg } = await import('./lib/pg-server.ts');
  const { migrateSqliteToPostgres } = await import('../store/copy.ts');
  const { databasePath } = await import('../store/index.ts');
  const engines = [...ENGINES];
  const skip = engines.includes('postgres') ? benchPgSkipReason(process.env.BENCH_DATABASE_URL) : undefined;
  if (skip) {
    console.log(`postgres skipped — ${skip}`);
    engines.splice(engines.indexOf('postgres'), 1);
  }
  const pg: BenchPg | null = engines.includes('postgres') ? await startBenchPg(process.env.BENCH_DATABASE_URL) : null;
  const load = () => loadavg().map((l) => l.toFixed(2)).join(' ');
  console.log(`engines ${engines.join(', ')}${pg ? ` (${pg.description})` : ''} — ${cpus().length} CPUs, load average ${load()}`);
  const rows: SideBySideRow[] = [];
  const cell = (engine: Engine, text: string) => engines.map((e) => (e === engine ? text : undefined));
  const put = (figure: string, engine: Engine, text: string) => {
    const row = rows.find((r) => r.figure === figure);
    if (row) row.cells[engines.indexOf(engine)] = text;
    else rows.push({ figure, cells: cell(engine, text) });
  };
  let databases = 0;
  try {
    const counts = [...COUNTS, ...(BIG > 0 && !COUNTS.includes(BIG) ? [BIG] : [])];
    for (const count of counts) {
      const dir = mkdtempSync(join(tmpdir(), 'forge-bench-reconcile-'));
      try {
        const s = await child<SetupResult>('--setup', dir, '', count);
        console.log(`setup ${count} services — ${s.running} running, ${s.instances} instances, converged on SQLite in ${(s.ms / 1000).toFixed(1)} s`);
        for (const engine of engines) {
          if (count === BIG && !COUNTS.includes(BIG) && !BIG_ENGINES.includes(engine)) continue;
          const db = `forge_bench_${process.pid}_${++databases}`;
          let store = '';
          try {
            if (engine === 'postgres') {
              store = pg!.createDatabase(db);
              const started = performance.now();
              migrateSqliteToPostgres(databasePath(dir), store);
              console.log(`setup ${count} services — copied into PostgreSQL in ${((performance.now() - started) / 1000).toFixed(1)} s`);
            }
            report(engine, count, await child<MeasureResult>('--measure', dir, store, count), count === Math.max(...counts));
          } finally {
            if (store !== '') pg!.dropDatabase(db);
          }
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
    if (DURATION_S > 0) {
      for (const engine of engines) {
        const dir = mkdtempSync(join(tmpdir(), 'forge-bench-api-'));
        const db = `forge_bench_${process.pid}_${++databases}`;
        try {
          const r = await child<UpsertRates>('--api', dir, engine === 'postgres' ? pg!.createDatabase(db) : '');
          for (const [mix, rate] of [['same spec', r.same], ['new spec each', r.changing]] as const) {
            const failed = rate.failed > 0 ? `, ${rate.failed} failed` : '';
            console.log(`${engine} API upserts, ${mix}: ${rate.perSecond} upserts/s (p50 ${rate.p50Ms} ms, p99 ${rate.p99Ms} ms${failed})`);
            put(`API upserts per second, ${mix}`, engine, String(rate.perSecond));
          }
        } finally {
          if (engine === 'postgres') pg!.dropDatabase(db);
          rmSync(dir, { recursive: true, force: true });
        }
      }
    }
  } finally {
    await pg?.stop();
  }

  function report(engine: Engine, count: number, m: MeasureResult, largest: boolean): void {
    const median = percentile(m.times, 50);
    const p95 = percentile(m.times, 95);
    const target = count === 10_000 ? '; target ≤ 25 ms' : '';
    console.log(`${engine} no-op pass, ${count} services: ${ms(median)} ms (median of ${PASSES}; p95 ${ms(p95)} ms; store reads per pass ${m.statements} statements, ${m.rows} rows${target})`);
    console.log(`${engine} no-op pass p95, ${count} services: ${ms(p95)} ms`);
    console.log(`${engine} store read of a no-op pass, ${count} services: ${ms(percentile(m.reads, 50))} ms (median; p95 ${ms(percentile(m.reads, 95))} ms)`);
    if (m.queued > 0) console.log(`warning: ${engine} ${count} — the no-op passes queued ${m.queued} keys`);
    put(`no-op pass median / p95, ${count} services`, engine, `${ms(median)} / ${ms(p95)} ms`);
    put(`store rows read per no-op pass, ${count} services`, engine, String(m.rows));
    put(`store read of a no-op pass median / p95, ${count} services`, engine, `${ms(percentile(m.reads, 50))} / ${ms(percentile(m.reads, 95))} ms`);
    if (!largest) return;
    console.log(`${engine} provider calls per no-op pass: observe ${m.observe.toFixed(1)} (one bulk, from cache), remote reads ${m.remoteReads.toFixed(1)}, remote writes ${m.remoteWrites.toFixed(1)} (target: 0 writes, no per-service reads)`);
    const rssTarget = count === 10_000 ? '; target ≤ 150 MB' : '';
    console.log(`${engine} rss with ${count} services: ${m.rss.toFixed(0)} MB (after ${Math.min(RSS_PASSES, PASSES)} no-op passes, where issue 3 measured it${rssTarget})`);
    console.log(`${engine} rss after ${PASSES} passes, ${count} services: ${m.rssEnd.toFixed(0)} MB`);
    put(`rss with ${count} services`, engine, `${m.rss.toFixed(0)} MB`);
  }
  console.log(`\nside by side (no-op pass over ${PASSES} passes; API ${DURATION_S} s per mix, 10 connections; load average after ${load()})`);
  console.log(renderSideBySide(engines.map((e) => (e === 'sqlite' ? 'SQLite' : 'PostgreSQL')), rows));
}
