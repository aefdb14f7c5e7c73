// Agents fetch bundles by digest over the agent protocol (their own token, their
// own id), verify the digest, extract and cache them.

import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { agentRoutes } from '../../api/agent-routes.ts';
import { createBundleStore } from '../../api/bundle-store.ts';
import { bundleSource } from '../../agent/bundle-fetch.ts';
import { createProtocolClient, type ProtocolClient } from '../../agent/protocol-client.ts';
import { packBundle, type Bundle } from '../../specs/bundle.ts';
import { isForgeError } from '../../errors/index.ts';
import { openStore, type Store } from '../../store/index.ts';

const TOKEN = 'bundle-fetch-registration';

describe('agent bundle fetch', () => {
  let dir: string;
  let store: Store;
  let app: FastifyInstance;
  let url: string;
  let client: ProtocolClient;
  let bundle: Bundle;
  let agentId: string;

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'forge-bundle-fetch-'));
    store = openStore(path.join(dir, 'control'));
    app = Fastify({ forceCloseConnections: true });
    await app.register(agentRoutes({ store, registrationTokens: [TOKEN], secretsFor: () => ({}), bundlesDir: path.join(dir, 'control', 'bundles') }));
    await app.listen({ port: 0, host: '127.0.0.1' });
    const address = app.server.address();
    url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    const src = path.join(dir, 'laptop-src');
    mkdirSync(path.join(src, 'lib'), { recursive: true });
    writeFileSync(path.join(src, 'server.js'), 'console.log("v1")\n');
    writeFileSync(path.join(src, 'lib', 'a.js'), 'module.exports = 1\n');
    bundle = await packBundle(src);
    await createBundleStore(path.join(dir, 'control', 'bundles'), 1 << 20).putPacked(bundle);
    client = createProtocolClient(url);
    const answer = await client.register({ name: 'w1', capacity: { cpus: 1, memoryBytes: 1 << 30 }, addresses: ['127.0.0.1'], labels: {}, instances: [] }, TOKEN);
    client.setCredentials(answer.id, answer.token);
    agentId = answer.id;
  });
  after(async () => {
    await app.close();
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('fetches by digest, verifies, extracts and caches', async () => {
    const cache = path.join(dir, 'worker', 'bundles');
    let downloads = 0;
    const download = (d: string, s?: AbortSignal) => { downloads += 1; return client.bundle(d, s); };
    const folder = await bundleSource(cache, bundle.digest, download);
    assert.equal(readFileSync(path.join(folder, 'server.js'), 'utf8'), 'console.log("v1")\n');
    assert.equal(readFileSync(path.join(folder, 'lib', 'a.js'), 'utf8'), 'module.exports = 1\n');
    assert.equal(await bundleSource(cache, bundle.digest, download), folder);
    assert.equal(downloads, 1, 'the second use is served from the cache');
  });

  test('content that does not match the digest is refused and not cached', async () => {
    const fake = `sha256:${'b'.repeat(64)}`;
    const stored = path.join(dir, 'control', 'bundles', `${'b'.repeat(64)}.tar.gz`);
    writeFileSync(stored, bundle.gzip); // a control plane serving the wrong bytes under a name
    const cache = path.join(dir, 'worker2', 'bundles');
    await assert.rejects(bundleSource(cache, fake, (d, s) => client.bundle(d, s)), (error: unknown) => {
      assert.ok(isForgeError(error));
      assert.match(error.message, /hashes to sha256:[0-9a-f]{64}: refused/);
      return true;
    });
    assert.equal(existsSync(path.join(cache, 'b'.repeat(64))), false);
  });

  test('the route needs the agent token of the id in the path; a missing bundle is 404', async () => {
    const anon = await fetch(`${url}/api/agents/${agentId}/bundles/${bundle.digest}`);
    assert.equal(anon.status, 401);
    await anon.body?.cancel();
    const other = await fetch(`${url}/api/agents/someone-else/bundles/${bundle.digest}`, { headers: { authorization: 'Bearer nope' } });
    assert.equal(other.status, 401);
    await other.body?.cancel();
    await assert.rejects(client.bundle(`sha256:${'c'.repeat(64)}`), (error: unknown) => isForgeError(error) && error.code === 'E_NOT_FOUND');
  });
});
