// The whole reconciler (temp-dir store, controller, loop) driving the real Fly
// provider and client against the Fly fake: for the Fly loop test and
// bench/fly.ts. Passes are driven by hand: converge() forces a listing, runs a
// no-op resync pass and waits for the queue, until a pass queues nothing.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore, type Store } from '../../store/index.ts';
import { createController } from '../../reconciler/controller.ts';
import { createLoop, type Loop, type ResyncReport } from '../../reconciler/loop.ts';
import { applySet } from '../../api/service-apply-set.ts';
import { specHash } from '../../specs/hash.ts';
import type { ServiceSpec } from '../../specs/types.ts';
import { createFlyClient, type FlyClient, type FlyClientOptions } from '../../providers/fly/client.ts';
import { createFlyProvider, type FlyProvider, type FlyProviderOptions } from '../../providers/fly/provider.ts';
import { startFlyFake, type FlyFake, type FlyFakeOptions } from './fly.ts';

export interface FlyHarnessOptions {
  fake?: FlyFakeOptions;
  client?: Partial<FlyClientOptions>;
  provider?: Partial<FlyProviderOptions>;
  projectId?: string;
  concurrency?: number;
  /** The controller's requeue delay while instances converge. */
  pollMs?: number;
  /** Secret values and their keyed digest, as api/secrets.ts hands them to the controller (default: none). */
  secretsFor?: (name: string) => Record<string, string>;
  secretsDigest?: (name: string, spec: ServiceSpec) => string;
}

export interface FlyHarness {
  fake: FlyFake;
  client: FlyClient;
  provider: FlyProvider;
  store: Store;
  loop: Loop;
  projectId: string;
  /** Reconciles that ended in a retryable error (the loop backs off and retries them). */
  readonly loopErrors: number;
  /** Desired rows from one apply source ('test'), nudging the loop with what changed; `hashOf` defaults to specHash. */
  apply(specs: ServiceSpec[], hashOf?: (spec: ServiceSpec) => string): string[];
  /** Two-phase delete, as the API does it. */
  remove(name: string): void;
  converge(maxPasses?: number): Promise<{ passes: number; report: ResyncReport }>;
  close(): Promise<void>;
}

/** The control plane the harness acts as: the `forge_owner` of the machines it creates. */
export const FLY_HARNESS_OWNER = 'cp_00000000000000f2';

export async function startFlyHarness(o: FlyHarnessOptions = {}): Promise<FlyHarness> {
  const projectId = o.projectId ?? 'p1';
  const fake = await startFlyFake({ transitionMs: 2, ...o.fake });
  const client = createFlyClient({
    token: fake.token,
    org: fake.org,
    baseUrl: fake.url,
    backoff: { baseMs: 2, maxMs: 20 },
    ...o.client,
  });
  // Listings only when forced (converge) or at most every 50 ms: a reconcile reads the cache.
  const provider = createFlyProvider({ client, org: fake.org, projectId, controlPlaneId: FLY_HARNESS_OWNER, waitTimeoutSeconds: 5, resyncIntervalMs: 50, ...o.provider });
  const dir = mkdtempSync(join(tmpdir(), 'forge-fly-loop-'));
  const store = openStore(dir);
  const providers = () => [provider];
  const controller = createController({
    store,
    provider: (name) => (name === 'fly' ? provider : undefined),
    providers,
    secretsFor: o.secretsFor ?? (() => ({})),
    ...(o.secretsDigest ? { secretsDigest: o.secretsDigest } : {}),
    now: Date.now,
    pollMs: o.pollMs ?? 20,
  });
  let loopErrors = 0;
  // Count retryable reconcile failures (the loop backs off and retries them).
  const reconcile = controller.reconcile;
  controller.reconcile = async (key) => {
    const outcome = await reconcile(key);
    if (outcome.result === 'error') loopErrors += 1;
    return outcome;
  };
  const loop = createLoop({
    store,
    controller,
    providers,
    resyncIntervalMs: 0,
    concurrency: o.concurrency ?? 8,
    backoff: { baseMs: 5, maxMs: 50 },
    onError: () => {
      loopErrors += 1;
    },
  });
  loop.start();
  const harness: FlyHarness = {
    fake,
    client,
    provider,
    store,
    projectId,
    loop,
    get loopErrors() {
      return loopErrors;
    },
    apply(specs, hashOf = specHash) {
      const plan = applySet(store, 'test', specs.map((spec) => ({ spec, hash: hashOf(spec) })));
      for (const key of plan.changed) loop.nudge(key);
      return plan.changed;
    },
    remove(name) {
      store.services.markDeleting(name);
      loop.nudge(name);
    },
    async converge(maxPasses = 30) {
      let report: ResyncReport = { services: 0, queued: 0, orphans: 0 };
      for (let pass = 1; pass <= maxPasses; pass += 1) {
        await loop.idle();
        await provider.resync(true);
        report = await loop.resync();
        await loop.idle();
        if (report.queued === 0 && report.orphans === 0) return { passes: pass, report };
        // Let requeued keys and machine transitions move before the next look.
        await new Promise((r) => setTimeout(r, 5));
      }
      throw new Error(`did not converge in ${maxPasses} passes: ${JSON.stringify(report)}`);
    },
    async close() {
      await loop.stop();
      await client.close();
      await fake.close();
      store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return harness;
}

/** A Fly service spec with the normalizer's defaults. */
export function flySpec(name: string, overrides: Partial<ServiceSpec> = {}): ServiceSpec {
  return {
    name,
    provider: 'fly',
    image: 'registry.example/app:1',
    port: 8080,
    resources: { memoryMb: 512, cpus: 1, cpuKind: 'shared' },
    region: 'iad',
    env: { MODE: 'prod' },
    secrets: [],
    replicas: 1,
    domains: [],
    autoStop: false,
    health: { type: 'http', path: '/health', intervalMs: 10_000, timeoutMs: 3_000, retries: 3 },
    ...overrides,
  };
}
