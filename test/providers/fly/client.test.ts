import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ForgeError } from '../../../errors/index.ts';
import { createFlyClient, type FlyClientOptions } from '../../../providers/fly/client.ts';
import { isAmbiguousFlyError } from '../../../providers/fly/errors.ts';
import { assertNoContractViolations, startFlyFake, type FlyFake, type FlyFakeOptions } from '../../fakes/fly.ts';

/** A client whose sleeps are recorded and advance a fake clock instead of waiting. */
function clientFor(fake: FlyFake, o: Partial<FlyClientOptions> = {}) {
  const sleeps: number[] = [];
  let clock = 1_000_000;
  const client = createFlyClient({
    token: fake.token,
    org: fake.org,
    baseUrl: fake.url,
    backoff: { baseMs: 100, maxMs: 1_000 },
    random: () => 0.5,
    now: () => clock,
    sleep: async (ms) => {
      sleeps.push(ms);
      clock += ms;
    },
    ...o,
  });
  return { client, sleeps };
}

async function withFake(fn: (fake: FlyFake) => Promise<void>, opts: FlyFakeOptions = {}): Promise<void> {
  const fake = await startFlyFake({ transitionMs: 1, ...opts });
  try {
    await fn(fake);
    assertNoContractViolations(fake);
  } finally {
    await fake.close();
  }
}

const machineBody = { config: { image: 'registry.example/app:1', metadata: { forge_key: 'web' } }, region: 'iad' };

describe('fly client', () => {
  it('retries 429 honouring Retry-After', () =>
    withFake(async (fake) => {
      const { client, sleeps } = clientFor(fake);
      await client.createApp('web-p1', 'k1');
      fake.queueFaults('429', '429');
      assert.deepEqual(await client.listIps('web-p1'), []);
      assert.deepEqual(sleeps, [2_000, 2_000]);
      assert.deepEqual(client.stats, { requests: 4, retries: 2 });
      await client.close();
    }, { retryAfterSeconds: 2 }));

  it('retries 500s and connection resets of idempotent calls with exponential backoff and full jitter', () =>
    withFake(async (fake) => {
      const { client, sleeps } = clientFor(fake);
      await client.createApp('web-p1', 'k1');
      fake.queueFaults('500', 'reset', '500');
      assert.equal((await client.getApp('web-p1'))?.name, 'web-p1');
      // random() = 0.5 of min(1000, 100·2^attempt)
      assert.deepEqual(sleeps, [50, 100, 200]);
      await client.close();
    }));

  it('gives up after a bounded number of attempts with the last Fly error', () =>
    withFake(async (fake) => {
      const { client, sleeps } = clientFor(fake, { maxAttempts: 3 });
      fake.queueFaults('500', '500', '500', '500');
      await assert.rejects(client.getApp('web-p1'), (err: unknown) => {
        assert.ok(err instanceof ForgeError);
        assert.equal(err.code, 'E_PROVIDER');
        assert.deepEqual(err.details, { status: 500, flyError: 'internal error', flyStatus: 'unknown', attempts: 3 });
        assert.equal(err.terminal, false);
        return true;
      });
      assert.equal(sleeps.length, 2);
      await client.close();
    }));

  it('does not blindly repeat a machine create after a 500 or a reset: the error says it is ambiguous', () =>
    withFake(async (fake) => {
      const { client } = clientFor(fake);
      await client.createApp('web-p1', 'k1');
      fake.queueFaults('500');
      await assert.rejects(client.createMachine('web-p1', machineBody), (err: unknown) => isAmbiguousFlyError(err));
      fake.queueFaults('reset');
      await assert.rejects(client.createMachine('web-p1', machineBody), (err: unknown) => isAmbiguousFlyError(err));
      fake.queueFaults('429');
      const m = await client.createMachine('web-p1', machineBody);
      assert.equal(m.config?.image, 'registry.example/app:1');
      assert.equal(fake.requests.filter((q) => q.method === 'POST' && q.path === '/v1/apps/web-p1/machines').length, 4);
      await client.close();
    }));

  it('turns a refused token into a terminal error naming FLY_API_TOKEN', () =>
    withFake(async (fake) => {
      const { client } = clientFor(fake, { token: 'wrong' });
      await assert.rejects(client.getApp('x'), (err: unknown) => {
        assert.ok(err instanceof ForgeError);
        assert.equal(err.terminal, true);
        assert.match(err.message, /FLY_API_TOKEN was refused/);
        assert.deepEqual(err.details, { status: 401, flyError: 'unauthorized', attempts: 1 });
        return true;
      });
      await client.close();
    }));

  it('treats an existing app of the same org as created=false', () =>
    withFake(async (fake) => {
      const { client } = clientFor(fake);
      assert.deepEqual(await client.createApp('web-p1', 'k1'), { created: true });
      assert.deepEqual(await client.createApp('web-p1', 'k1'), { created: true }, 'same idempotency key: same app');
      assert.deepEqual(await client.createApp('web-p1', 'k2'), { created: false });
      assert.equal(fake.world.apps.size, 1);
      await client.close();
    }));

  it('rate-limits mutations per machine: a burst of 3, then one per second', () =>
    withFake(async (fake) => {
      const { client, sleeps } = clientFor(fake);
      await client.createApp('web-p1', 'k1');
      const m = await client.createMachine('web-p1', machineBody);
      for (let i = 0; i < 5; i++) await client.stopMachine('web-p1', m.id);
      assert.deepEqual(sleeps, [1_000, 1_000]);
      await client.close();
    }));

  it('keeps secret values out of errors', () =>
    withFake(async (fake) => {
      const { client } = clientFor(fake, { maxAttempts: 1 });
      fake.queueFaults('500');
      await assert.rejects(client.setSecrets('nope', { TOKEN: 'canary-value-123' }), (err: unknown) => {
        assert.ok(err instanceof ForgeError);
        assert.equal(JSON.stringify({ m: err.message, d: err.details }).includes('canary-value-123'), false);
        return true;
      });
      await client.close();
    }));

  it('pages through the org-wide machine listing with a cursor', () =>
    withFake(async (fake) => {
      const { client } = clientFor(fake);
      for (let i = 0; i < 5; i++) fake.createOrphan(`app-${i}`, { metadata: { forge_key: `s${i}` } });
      const ids: string[] = [];
      let cursor: string | undefined;
      for (let page = 0; page < 10; page++) {
        const res = await client.listOrgMachines({ limit: 2, ...(cursor ? { cursor } : {}) });
        ids.push(...(res.machines ?? []).map((m) => m.id));
        if (!res.next_cursor) break;
        cursor = res.next_cursor;
      }
      assert.deepEqual(ids.sort(), [...fake.world.machines.keys()].sort());
      await client.close();
    }));
});
