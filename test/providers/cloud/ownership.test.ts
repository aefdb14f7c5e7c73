// Defects 13.1: a control plane in cloud mode manages only what it can prove it
// created. The remote is a real Forge API (on loopback) that already holds a service
// someone else created (`my-api`); a local control plane with the cloud provider and
// its real controller and loop, and no services of its own, must leave it alone:
// not delete it as an orphan, not adopt or change it when a service of that name is
// desired here (reported as a conflict instead). What it creates itself carries its
// owner label (the remote's `source`), is updated and deleted as before, and an image
// service lands on a remote provider that runs images (not the remote's default).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ProvidersConfig } from '../../../api/context.ts';
import { createCloudClient } from '../../../providers/cloud/client.ts';
import { createCloudProvider } from '../../../providers/cloud/provider.ts';
import { createController } from '../../../reconciler/controller.ts';
import { createLoop } from '../../../reconciler/loop.ts';
import { applySet } from '../../../api/service-apply-set.ts';
import { specHash } from '../../../specs/hash.ts';
import { openStore } from '../../../store/index.ts';
import { makeSpec } from '../../helpers/spec.ts';
import { apiHarness } from '../../api/helpers.ts';

// The remote Forge: agents run source, Fly runs images (what a real one reports).
const REMOTE_PROVIDERS: ProvidersConfig = {
  agent: { configured: true, runs: { images: false, source: true } },
  fly: { configured: true, runs: { images: true, source: false } },
  cloud: { configured: false, reason: 'PROJECT_ID is not set' },
};
const CONTROL_PLANE_ID = 'cp_0123456789abcdef';

test('Defects 13.1: cloud mode never deletes, adopts or changes a remote service it did not create', async () => {
  const remote = await apiHarness({ providersConfig: REMOTE_PROVIDERS });
  await remote.app.listen({ host: '127.0.0.1', port: 0 });
  const address = remote.app.server.address();
  const host = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  const dir = mkdtempSync(join(tmpdir(), 'forge-cloud-owner-'));
  const store = openStore(dir);
  const client = createCloudClient({ host, projectId: 'proj-1', apiKey: remote.key, backoffBaseMs: 1, backoffMaxMs: 2, maxAttempts: 2 });
  const reported: string[] = [];
  const provider = createCloudProvider({ client, controlPlaneId: CONTROL_PLANE_ID, resyncIntervalMs: 0, report: (m) => reported.push(m) });
  const providers = () => [provider];
  const controller = createController({
    store, provider: (name) => (name === 'cloud' ? provider : undefined), providers, secretsFor: () => ({}), now: Date.now, pollMs: 20,
  });
  const loop = createLoop({ store, controller, providers, resyncIntervalMs: 0, backoff: { baseMs: 5, maxMs: 20 } });
  const call = (method: 'GET' | 'POST', url: string, payload?: unknown) =>
    remote.app.inject({ method, url, headers: remote.auth(), ...(payload === undefined ? {} : { payload: payload as object }) });
  const settle = async () => {
    for (let i = 0; i < 5; i++) {
      await provider.resync(true);
      await loop.resync();
      await loop.idle();
    }
  };
  try {
    // Someone else's service on the remote, created through its API.
    assert.equal((await call('POST', '/api/compute/services', { name: 'my-api', image: 'nginx:1.27', provider: 'fly' })).statusCode, 201);
    loop.start();
    await settle();
    const theirs = (await call('GET', '/api/compute/services/my-api'));
    assert.equal(theirs.statusCode, 200, 'the remote service is still there');
    assert.equal(remote.store.audit.list({ limit: 100 }).some((a) => a.action === 'service.delete'), false, 'no delete was asked of the remote');
    assert.ok(reported.some((m) => /my-api/.test(m) && /not created by this control plane/.test(m)), `reported: ${JSON.stringify(reported)}`);

    // Our own image service: created with our owner label, on a remote provider that runs images.
    const web = makeSpec({ name: 'web', provider: 'cloud', image: 'nginx:1.27', replicas: 1 });
    applySet(store, 'test', [{ spec: web, hash: specHash(web) }]);
    loop.nudge('web');
    await settle();
    const ours = (await call('GET', '/api/compute/services/web')).json() as { source: string; provider: string; status: string };
    assert.deepEqual([ours.source, ours.provider], [`forge:${CONTROL_PLANE_ID}`, 'fly']);

    // A service here with the name of theirs: refused and reported, theirs untouched.
    const before = remote.store.services.get('my-api')!;
    const clash = makeSpec({ name: 'my-api', provider: 'cloud', image: 'nginx:1.28' });
    applySet(store, 'test', [{ spec: web, hash: specHash(web) }, { spec: clash, hash: specHash(clash) }]);
    loop.nudge('my-api');
    await settle();
    const after = remote.store.services.get('my-api')!;
    assert.deepEqual([after.generation, after.spec.image, after.source], [before.generation, 'nginx:1.27', 'api']);
    const status = store.status.get('my-api');
    assert.equal(status?.lastError?.code, 'E_CONFLICT', JSON.stringify(status));
    assert.match(status?.lastError?.message ?? '', /not created by this control plane/);

    // The remote itself refuses a writer that names another owner (a race the local check cannot close).
    const claim = await call('POST', '/api/compute/services', { name: 'my-api', image: 'nginx:1.29', source: `forge:${CONTROL_PLANE_ID}` });
    assert.deepEqual([claim.statusCode, claim.json().error], [409, 'E_CONFLICT']);
    assert.equal(remote.store.services.get('my-api')!.spec.image, 'nginx:1.27');

    // Deleting our own service deletes it remotely; theirs stays.
    store.services.markDeleting('web');
    store.services.markDeleting('my-api');
    loop.nudge('web');
    loop.nudge('my-api');
    await settle();
    // Deleted remotely: gone, or still listed as destroying while the remote's provider tears it down.
    const gone = await call('GET', '/api/compute/services/web');
    assert.ok(gone.statusCode === 404 || (gone.json() as { status: string }).status === 'destroying', `ours is deleted remotely: ${gone.statusCode} ${gone.body}`);
    assert.equal((await call('GET', '/api/compute/services/my-api')).statusCode, 200, 'theirs is still there');
  } finally {
    await loop.stop();
    await provider.close?.();
    store.close();
    rmSync(dir, { recursive: true, force: true });
    await remote.close();
  }
});
