// Compute API writes that pin an image (api/service-writes.ts): the digest is resolved
// first and the row is read, merged and written after it, in one transaction, so a
// write landing while a tag resolves is not undone; and a digest is kept only on a
// provider that pins images, for the same image reference.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { apiHarness, ALL_PROVIDERS, type ApiHarness } from '../api/helpers.ts';

const IMAGE = 'registry.test:5000/web:stable';
const NEXT = 'registry.test:5000/web:next';
const digest = (c: string) => `sha256:${c.repeat(64)}`;

/** A registry whose answers for `held` wait until the test lets them go. */
function gatedRegistry(tags: Map<string, string>) {
  const waiting: Array<() => void> = [];
  const held = new Set<string>();
  let open = false;
  let arrived = () => {};
  return {
    held,
    /** Resolves once `count` held lookups are waiting. */
    blocked: (count = 1) => new Promise<void>((resolve) => {
      arrived = () => { if (waiting.length >= count) resolve(); };
      arrived();
    }),
    release: () => { open = true; for (const go of waiting.splice(0)) go(); },
    pinImage: async (image: string): Promise<string> => {
      if (held.has(image) && !open) {
        await new Promise<void>((go) => { waiting.push(go); arrived(); });
      }
      return tags.get(image) ?? assert.fail(`no ${image}`);
    },
  };
}

async function harness(registry: { pinImage: (image: string) => Promise<string> }): Promise<ApiHarness> {
  return apiHarness({ providersConfig: { ...ALL_PROVIDERS, agent: { configured: true, pinsImages: true } }, pinImage: registry.pinImage });
}

async function call(h: ApiHarness, method: 'POST' | 'PATCH' | 'DELETE', url: string, payload?: object) {
  return h.app.inject({ method, url, headers: h.auth(), ...(payload ? { payload } : {}) });
}

test('an env change that lands while a PATCH resolves its image survives that PATCH', async () => {
  const registry = gatedRegistry(new Map([[IMAGE, digest('a')], [NEXT, digest('b')]]));
  const h = await harness(registry);
  try {
    const created = await call(h, 'POST', '/api/compute/services', { name: 'web', provider: 'agent', imageUrl: IMAGE, port: 8080, envVars: { A: '1' } });
    assert.equal(created.statusCode, 201, created.body);
    registry.held.add(NEXT);
    const slow = call(h, 'PATCH', '/api/compute/services/web', { imageUrl: NEXT });
    await registry.blocked();
    const env = await call(h, 'PATCH', '/api/compute/services/web', { envVarsPatch: { set: { B: '2' } }, replicas: 3 });
    assert.equal(env.statusCode, 200, env.body);
    registry.release();
    const moved = await slow;
    assert.equal(moved.statusCode, 200, moved.body);
    const row = h.store.services.get('web')!;
    assert.deepEqual([row.spec.image, row.spec.revision], [NEXT, digest('b')], 'the slow PATCH moved the image');
    assert.equal(row.spec.replicas, 3, 'the replica change made meanwhile is kept');
    assert.deepEqual(h.store.secrets.keys('web').sort(), ['A', 'B'], 'the env change made meanwhile is kept');
  } finally {
    await h.close();
  }
});

test('a service deleted while a write resolves its image stays deleted: the write is a conflict', async () => {
  const registry = gatedRegistry(new Map([[IMAGE, digest('a')], [NEXT, digest('b')]]));
  const h = await harness(registry);
  try {
    assert.equal((await call(h, 'POST', '/api/compute/services', { name: 'web', provider: 'agent', imageUrl: IMAGE, port: 8080 })).statusCode, 201);
    registry.held.add(NEXT);
    const slowPatch = call(h, 'PATCH', '/api/compute/services/web', { imageUrl: NEXT });
    const slowPost = call(h, 'POST', '/api/compute/services', { name: 'web', provider: 'agent', imageUrl: NEXT, port: 8080 });
    await registry.blocked(2);
    const deleted = await call(h, 'DELETE', '/api/compute/services/web');
    assert.equal(deleted.statusCode, 202, deleted.body);
    registry.release();
    for (const slow of [await slowPatch, await slowPost]) {
      assert.equal(slow.statusCode, 409, slow.body);
      assert.equal(slow.json().error, 'E_CONFLICT');
    }
    const row = h.store.services.get('web')!;
    assert.deepEqual([row.deleting, row.spec.image], [true, IMAGE], 'still being destroyed, as the DELETE left it');
  } finally {
    await h.close();
  }
});

test('moving a service to a provider that resolves tags itself drops the digest; moving it back resolves the tag again', async () => {
  const tags = new Map([[IMAGE, digest('a')]]);
  const h = await harness({ pinImage: async (image) => tags.get(image) ?? assert.fail(`no ${image}`) });
  try {
    assert.equal((await call(h, 'POST', '/api/compute/services', { name: 'web', provider: 'agent', imageUrl: IMAGE, port: 8080 })).statusCode, 201);
    assert.equal(h.store.services.get('web')?.spec.revision, digest('a'));
    const toFly = await call(h, 'PATCH', '/api/compute/services/web', { provider: 'fly' });
    assert.equal(toFly.statusCode, 200, toFly.body);
    const onFly = h.store.services.get('web')!.spec;
    assert.deepEqual([onFly.provider, onFly.revision], ['fly', undefined], 'Fly resolves the tag itself: no agent digest as its revision');
    tags.set(IMAGE, digest('b'));
    const back = await call(h, 'PATCH', '/api/compute/services/web', { provider: 'agent' });
    assert.equal(back.statusCode, 200, back.body);
    const onAgent = h.store.services.get('web')!.spec;
    assert.deepEqual([onAgent.provider, onAgent.revision], ['agent', digest('b')], 'back on the agents the tag is resolved again');
  } finally {
    await h.close();
  }
});
