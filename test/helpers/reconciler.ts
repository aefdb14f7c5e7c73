// A whole reconciler on a temp-dir store and a world provider, driven by hand:
// converge() runs no-op passes until one queues nothing (bounded in count).

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore, type Store } from '../../store/index.ts';
import { createController, type RouteTable } from '../../reconciler/controller.ts';
import { createLoop, type Loop, type ResyncReport } from '../../reconciler/loop.ts';
import { createReconcilerMetrics, type ReconcilerMetrics } from '../../reconciler/metrics.ts';
import { applySet, type ApplyPlan } from '../../api/service-apply-set.ts';
import { specHash } from '../../specs/hash.ts';
import type { ServiceSpec } from '../../specs/types.ts';
import { openWorldProvider, type WorldProvider, type WorldProviderOptions } from '../fakes/world-provider.ts';

export interface Harness {
  dir: string;
  store: Store;
  provider: WorldProvider;
  loop: Loop;
  metrics: ReconcilerMetrics;
  apply(source: string, specs: ServiceSpec[], options?: { prune?: boolean; dryRun?: boolean }): ApplyPlan;
  converge(maxPasses?: number): Promise<ResyncReport>;
  close(): Promise<void>;
}

export function startHarness(options: Partial<WorldProviderOptions> & { configured?: boolean; routes?: RouteTable } = {}): Harness {
  const dir = mkdtempSync(join(tmpdir(), 'forge-loop-'));
  const store = openStore(dir);
  const provider = openWorldProvider({ path: ':memory:', ...options });
  const metrics = createReconcilerMetrics();
  const providers = () => (options.configured === false ? [] : [provider]);
  const controller = createController({
    store,
    provider: (name) => providers().find((p) => p.name === name),
    providers,
    secretsFor: () => ({}),
    now: Date.now,
    metrics,
    pollMs: 60_000,
    routes: options.routes,
    drainMs: 5,
  });
  let attempts = 0;
  const loop = createLoop({
    store, controller, providers, resyncIntervalMs: 0, metrics,
    // No real waiting between retries in tests: converge() drives the passes.
    backoff: { baseMs: 60_000, maxMs: 60_000 }, random: () => { attempts += 1; return 0; },
  });
  loop.start();
  return {
    dir, store, provider, loop, metrics,
    apply(source, specs, opts) {
      const plan = applySet(store, source, specs.map((spec) => ({ spec, hash: specHash(spec) })), opts);
      for (const key of plan.changed) loop.nudge(key);
      return plan;
    },
    async converge(maxPasses = 20) {
      let report: ResyncReport = { services: 0, queued: 0, orphans: 0 };
      for (let pass = 0; pass < maxPasses; pass += 1) {
        await loop.idle();
        report = await loop.resync();
        await loop.idle();
        if (report.queued === 0 && report.orphans === 0) return report;
      }
      throw new Error(`did not converge in ${maxPasses} passes: ${JSON.stringify(report)} (retries ${attempts})`);
    },
    async close() {
      await loop.stop();
      await provider.close?.();
      store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
