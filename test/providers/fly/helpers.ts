// Shared set-up for Fly provider tests: a fake Fly API, a client with tiny
// backoff delays, a provider, and a spec factory.

import type { ServiceSpec } from '../../../specs/types.ts';
import { startFlyFake, type FlyFake, type FlyFakeOptions } from '../../fakes/fly.ts';
import { createFlyClient, type FlyClient, type FlyClientOptions } from '../../../providers/fly/client.ts';
import { createFlyProvider, type FlyProvider, type FlyProviderOptions } from '../../../providers/fly/provider.ts';

export const PROJECT = 'p1';

export function spec(name: string, overrides: Partial<ServiceSpec> = {}): ServiceSpec {
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

export interface Rig {
  fake: FlyFake;
  client: FlyClient;
  provider: FlyProvider;
  close(): Promise<void>;
}

export async function rig(o: { fake?: FlyFakeOptions; client?: Partial<FlyClientOptions>; provider?: Partial<FlyProviderOptions> } = {}): Promise<Rig> {
  const fake = await startFlyFake({ transitionMs: 2, ...o.fake });
  const client = createFlyClient({
    token: fake.token,
    org: fake.org,
    baseUrl: fake.url,
    backoff: { baseMs: 1, maxMs: 5 },
    machineRate: { perSecond: 1000, burst: 3 },
    ...o.client,
  });
  const provider = createFlyProvider({ client, org: fake.org, projectId: PROJECT, waitTimeoutSeconds: 5, ...o.provider });
  return {
    fake,
    client,
    provider,
    async close() {
      await client.close();
      await fake.close();
    },
  };
}
