// Fly provider throughput and cost: the whole reconciler (store, controller, loop)
// with the real Fly client and provider against the Fly fake.
// Run: npx tsx bench/fly.ts
//
// Targets (issue 6): 100 services converge on the fake with 100 ms latency per
// API call in ≤ 5 s; API calls per single deploy: the minimum the API allows.
// The loop runs with concurrency 32 (BENCH_FLY_CONCURRENCY to change it): a
// deploy is a chain of dependent calls, so wall time ≈ waves × chain × latency.

import { performance } from 'node:perf_hooks';
import { assertNoContractViolations } from '../test/fakes/fly.ts';
import { flySpec, startFlyHarness } from '../test/fakes/fly-harness.ts';

const SERVICES = Number(process.env.BENCH_FLY_SERVICES ?? 100);
const CONCURRENCY = Number(process.env.BENCH_FLY_CONCURRENCY ?? 32);
const LATENCY_MS = 100;
const TARGET_MS = 5_000;

async function converge100(): Promise<void> {
  const h = await startFlyHarness({
    concurrency: CONCURRENCY,
    fake: { transitionMs: 10, faults: { latencyMs: LATENCY_MS } },
    // Undici's pool must not be the bottleneck: one connection per concurrent deploy.
    client: {},
  });
  try {
    const names = Array.from({ length: SERVICES }, (_, i) => `svc-${String(i).padStart(3, '0')}`);
    const started = performance.now();
    h.apply(names.map((n) => flySpec(n)));
    const { passes } = await h.converge(20);
    const ms = Math.round(performance.now() - started);
    const running = names.filter((n) => h.store.status.get(n)?.phase === 'running').length;
    if (running !== SERVICES) throw new Error(`only ${running} of ${SERVICES} services are running`);
    assertNoContractViolations(h.fake);
    console.log(`fly: ${SERVICES} services converged in ${ms} ms (${h.fake.requests.length} API calls, ${passes} resync passes, concurrency ${CONCURRENCY}, ${LATENCY_MS} ms latency per call)`);
    if (ms > TARGET_MS) console.log(`fly: MISSED the ${TARGET_MS} ms target by ${ms - TARGET_MS} ms`);
    else console.log(`fly: target ≤ ${TARGET_MS} ms met (${TARGET_MS - ms} ms to spare)`);
  } finally {
    await h.close();
  }
}

async function callsPerDeploy(): Promise<void> {
  const h = await startFlyHarness({ fake: { transitionMs: 2 } });
  try {
    // The org listing that primes the cache is the resync's, shared by every service: not counted.
    await h.provider.resync(true);
    const before = h.fake.requests.length;
    h.apply([flySpec('one')]);
    await h.loop.idle();
    const calls = h.fake.requests.slice(before).map((q) => `${q.method} ${q.path.replace(/\/machines\/[0-9a-f]+/, '/machines/{id}')}`);
    assertNoContractViolations(h.fake);
    if (h.store.status.get('one')?.phase === undefined) throw new Error('the single deploy did not run');
    console.log(`fly: API calls per single deploy: ${calls.length} (${calls.join(', ')})`);
    const essential = calls.filter((c) => !c.endsWith('/wait')).length;
    console.log(`fly: of these, ${essential} change something (create app, shared IPv4, IPv6, create machine: the minimum for a public service); the wait confirms the start in one long-poll instead of repeated GETs`);
  } finally {
    await h.close();
  }
}

await converge100();
await callsPerDeploy();
