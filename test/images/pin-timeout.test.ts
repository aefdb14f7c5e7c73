// Write-time pinning is bounded well under the CLI's reply timeout: a registry that
// accepts connections and never answers (a black hole on loopback) fails the write
// with E_REGISTRY_UNAVAILABLE naming the image, and nothing is written.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { resolveDigest } from '../../agent/image/skopeo.ts';
import { pinSpecs } from '../../api/image-pins.ts';
import { ForgeError } from '../../errors/index.ts';
import { parseImageReference } from '../../specs/image-ref.ts';
import { makeSpec, fakeHash } from '../helpers/spec.ts';
import { apiHarness, ALL_PROVIDERS } from '../api/helpers.ts';

let blackHole: Server;
const held: Socket[] = [];
let port = 0;

before(async () => {
  blackHole = createServer((socket) => { held.push(socket); socket.on('error', () => {}); });
  await new Promise<void>((resolve) => blackHole.listen(0, '127.0.0.1', resolve));
  port = (blackHole.address() as { port: number }).port;
});
after(async () => {
  for (const s of held) s.destroy();
  await new Promise<void>((resolve) => blackHole.close(() => resolve()));
});

const unavailable = (image: string) => (e: unknown) =>
  e instanceof ForgeError && e.code === 'E_REGISTRY_UNAVAILABLE' && e.message.includes(image);

test('skopeo resolving a tag at a registry that never answers is stopped at its timeout: E_REGISTRY_UNAVAILABLE', { timeout: 30_000 }, async () => {
  const image = `127.0.0.1:${port}/web:stable`;
  const dir = mkdtempSync(join(tmpdir(), 'forge-pin-timeout-'));
  try {
    await assert.rejects(resolveDigest(parseImageReference(image)!, { privateDir: dir, timeoutMs: 1_000 }), unavailable(image));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a compute API write of an image at a black-hole registry fails within its budget and writes nothing', { timeout: 30_000 }, async () => {
  const image = `127.0.0.1:${port}/web:stable`;
  const h = await apiHarness({ providersConfig: { ...ALL_PROVIDERS, agent: { configured: true, pinsImages: true } }, pinBudgetMs: 1_500 });
  try {
    const res = await h.app.inject({ method: 'POST', url: '/api/compute/services', headers: h.auth(), payload: { name: 'web', provider: 'agent', imageUrl: image, port: 8080 } });
    assert.equal(res.statusCode, 502, res.body);
    assert.equal(res.json().error, 'E_REGISTRY_UNAVAILABLE');
    assert.match(res.json().message, new RegExp(image.replace(/[.]/g, '\\.')));
    assert.equal(h.store.services.get('web'), null, 'nothing written');
  } finally {
    await h.close();
  }
});

test('the images of one request share one budget: the image it runs out on is named', { timeout: 30_000 }, async () => {
  const specs = ['a', 'b', 'c'].map((n) => makeSpec({ name: n, provider: 'agent', image: `registry.test:5000/${n}:1` }));
  const asked: Array<[string, number | undefined]> = [];
  const deps = {
    providers: { ...ALL_PROVIDERS, agent: { configured: true, pinsImages: true } },
    pinBudgetMs: 400,
    // Each answer takes 300 ms (the second is past the budget); the third is never asked.
    pinImage: async (image: string, options?: { timeoutMs?: number }) => {
      asked.push([image, options?.timeoutMs]);
      await new Promise((resolve) => setTimeout(resolve, 300));
      return `sha256:${'1'.repeat(64)}`;
    },
  };
  await assert.rejects(pinSpecs(deps, specs.map((spec) => ({ spec, hash: fakeHash(spec) }))), unavailable('registry.test:5000/b:1'));
  assert.equal(asked[0]?.[0], 'registry.test:5000/a:1');
  assert.ok(!asked.some(([image]) => image === 'registry.test:5000/c:1'), 'nothing is asked once the budget is spent');
  assert.ok(asked.every(([, ms]) => ms !== undefined && ms <= 400), 'each resolver is told how long it may take');
});
