// A deleted service stays visible as `destroying` until its provider has torn it down,
// then its row goes. The real Fly provider against the Fly fake, with its destroy held
// open by the test (a provider whose teardown is slow), and the API on the same store.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { buildApi } from '../../api/server.ts';
import { generateApiKey } from '../../api/auth.ts';
import { createCipher } from '../../store/cipher.ts';
import type { Action, ApplyContext } from '../../providers/types.ts';
import { flySpec, startFlyHarness } from '../fakes/fly-harness.ts';
import { ALL_PROVIDERS, ENCRYPTION_KEY, JWT_SECRET, eventually } from './helpers.ts';

test('DELETE keeps the service listed as destroying while the provider tears it down, and removes it once the provider confirms', async () => {
  const fly = await startFlyHarness();
  const { key, hash, prefix } = generateApiKey();
  fly.store.apiKeys.create({ name: 'test', hash, prefix });
  const app = buildApi({
    store: fly.store, cipher: createCipher([ENCRYPTION_KEY]), loop: { nudge: (k) => fly.loop.nudge(k) },
    providersConfig: ALL_PROVIDERS, registry: new Registry(), observe: (keys) => fly.provider.observe(keys),
    config: { jwtSecret: JWT_SECRET, encryptionKeys: [ENCRYPTION_KEY], allowedRepos: [], allowedBranches: ['main'], dataDir: '/nonexistent' },
  });
  const headers = { 'x-api-key': key };
  const get = (url: string) => app.inject({ method: 'GET', url, headers });
  // The provider's teardown does not finish until the test lets it.
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  let destroying = 0;
  const apply = fly.provider.apply.bind(fly.provider);
  fly.provider.apply = async (action: Action, options: ApplyContext) => {
    if (action.kind === 'destroy') {
      destroying += 1;
      await held;
    }
    return apply(action, options);
  };
  try {
    await app.ready();
    fly.apply([flySpec('web')]);
    await fly.converge();
    assert.equal((await get('/api/compute/services/web')).json().status, 'running');

    const deleted = await app.inject({ method: 'DELETE', url: '/api/compute/services/web', headers });
    assert.equal(deleted.statusCode, 202);
    await eventually(() => (destroying > 0 ? true : undefined));

    const during = await get('/api/compute/services/web');
    assert.equal(during.statusCode, 200, during.body);
    assert.equal(during.json().status, 'destroying');
    assert.deepEqual((await get('/api/compute/services')).json().map((s: { name: string; status: string }) => [s.name, s.status]), [['web', 'destroying']]);
    // Changing a service that is going away is refused with a reason, not a 404.
    const patch = await app.inject({ method: 'PATCH', url: '/api/compute/services/web', headers, payload: { image: 'registry.example/app:2' } });
    assert.deepEqual([patch.statusCode, patch.json().error], [409, 'E_CONFLICT']);
    assert.match(patch.json().message, /being destroyed/);
    assert.equal(fly.store.services.get('web')?.deleting, true);
    assert.equal(fly.store.status.get('web')?.phase, 'destroying');

    release();
    await eventually(async () => ((await get('/api/compute/services/web')).statusCode === 404 ? true : undefined));
    assert.equal(fly.store.services.get('web'), null);
    assert.deepEqual((await get('/api/compute/services')).json(), []);
    assert.equal([...fly.fake.world.machines.values()].filter((m) => m.state !== 'destroyed').length, 0);
  } finally {
    release();
    await app.close();
    await fly.close();
  }
});
