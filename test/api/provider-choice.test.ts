// Defects 13.7: a spec that names no provider goes to a configured provider that can
// run it (compared by capabilities: agents run source, Fly and cloud run images), and
// when none can, the write is refused before anything is written: 503
// COMPUTE_NOT_CONFIGURED, never a 201 with a row that can only fail. A provider that
// is named but cannot run the spec is a 400. The same for POST /api/v1/apply.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ProvidersConfig } from '../../api/context.ts';
import { apiHarness } from './helpers.ts';

// What a real control plane reports: the agent provider runs source, Fly runs images.
const AGENTS_ONLY: ProvidersConfig = {
  agent: { configured: true, runs: { images: false, source: true } },
  fly: { configured: false, reason: 'FLY_API_TOKEN is not set' },
  cloud: { configured: false, reason: 'PROJECT_ID is not set' },
};
const AGENTS_AND_FLY: ProvidersConfig = { ...AGENTS_ONLY, fly: { configured: true, runs: { images: true, source: false } } };

async function withApi(providersConfig: ProvidersConfig, fn: (call: (method: string, url: string, body: unknown) => Promise<{ status: number; json: Record<string, unknown> }>, h: Awaited<ReturnType<typeof apiHarness>>) => Promise<void>) {
  const h = await apiHarness({ providersConfig });
  try {
    await fn(async (method, url, body) => {
      const res = await h.app.inject({ method: method as 'POST', url, headers: h.auth(), payload: body as object });
      return { status: res.statusCode, json: res.json() as Record<string, unknown> };
    }, h);
  } finally {
    await h.close();
  }
}

describe('Defects 13.7: a provider that can run the spec, or a refusal before anything is written', () => {
  test('agents only: an image without --provider → 503 COMPUTE_NOT_CONFIGURED, no row, no audit', () =>
    withApi(AGENTS_ONLY, async (call, h) => {
      const res = await call('POST', '/api/compute/services', { name: 'img2', image: 'nginx:1.27' });
      assert.equal(res.status, 503);
      assert.equal(res.json['error'], 'COMPUTE_NOT_CONFIGURED');
      assert.match(String(res.json['message']), /no configured provider runs images/);
      assert.equal(h.store.services.get('img2'), null);
      assert.deepEqual(h.store.audit.list({ limit: 10 }), []);
      assert.deepEqual(h.nudged, []);
    }));

  test('agents and Fly: an image without --provider goes to fly; a named provider that cannot run it → 400', () =>
    withApi(AGENTS_AND_FLY, async (call, h) => {
      const res = await call('POST', '/api/compute/services', { name: 'img2', image: 'nginx:1.27' });
      assert.equal(res.status, 201);
      assert.equal(res.json['provider'], 'fly');
      assert.equal(h.store.services.get('img2')?.spec.provider, 'fly');
      const named = await call('POST', '/api/compute/services', { name: 'img3', image: 'nginx:1.27', provider: 'agent' });
      assert.equal(named.status, 400);
      assert.equal(named.json['error'], 'E_SPEC_INVALID');
      assert.match(String(named.json['message']), /provider agent does not run images/);
      assert.equal(h.store.services.get('img3'), null);
      // An update of an existing service keeps its provider.
      const patched = await call('PATCH', '/api/compute/services/img2', { image: 'nginx:1.28' });
      assert.deepEqual([patched.status, patched.json['provider']], [200, 'fly']);
    }));

  test('POST /api/v1/apply: the same choice, and the same refusal with nothing written', async () => {
    await withApi(AGENTS_ONLY, async (call, h) => {
      const res = await call('POST', '/api/v1/apply', { source: 'ci', specs: [{ name: 'img', image: 'nginx:1.27' }, { file: 'b.yaml', text: 'name: b\nimage: x:1\n' }] });
      assert.equal(res.status, 503);
      assert.equal(res.json['error'], 'COMPUTE_NOT_CONFIGURED');
      assert.deepEqual(h.store.services.list(), []);
    });
    await withApi(AGENTS_AND_FLY, async (call, h) => {
      const res = await call('POST', '/api/v1/apply', { source: 'ci', specs: [{ name: 'img', image: 'nginx:1.27' }, { file: 'b.yaml', text: 'name: b\nimage: x:1\n' }] });
      assert.equal(res.status, 200);
      assert.deepEqual([h.store.services.get('img')?.spec.provider, h.store.services.get('b')?.spec.provider], ['fly', 'fly']);
      const named = await call('POST', '/api/v1/apply', { source: 'ci', specs: [{ name: 'c', image: 'nginx:1.27', provider: 'agent' }] });
      assert.deepEqual([named.status, named.json['error']], [400, 'E_SPEC_INVALID']);
      assert.equal(h.store.services.get('c'), null);
    });
  });
});
