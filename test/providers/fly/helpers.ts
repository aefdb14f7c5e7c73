// Shared set-up for Fly provider tests: a fake Fly API, a client with tiny
// backoff delays, a provider, and a spec factory.

import { startFlyFake, type FlyFake, type FlyFakeOptions } from '../../fakes/fly.ts';
import { createFlyClient, type FlyClient, type FlyClientOptions } from '../../../providers/fly/client.ts';
import { createFlyProvider, type FlyProvider, type FlyProviderOptions } from '../../../providers/fly/provider.ts';

/** The Fly spec builder of test/fakes/fly-harness.ts, under the name these tests use. */
export { flySpec as spec } from '../../fakes/fly-harness.ts';

export const PROJECT = 'p1';
/** The control plane these tests act as: the `forge_owner` of what it creates. */
export const OWNER = 'cp_00000000000000f1';


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
  const provider = createFlyProvider({ client, org: fake.org, projectId: PROJECT, controlPlaneId: OWNER, waitTimeoutSeconds: 5, ...o.provider });
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
