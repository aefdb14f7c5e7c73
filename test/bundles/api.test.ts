// Bundles through the API (inject): HEAD/PUT with dedup, digest checks, 413 with
// the limit, apply naming a bundle (an edit is a new release), rollback restoring
// the old bundle as the revision, retention keeping what releases name.

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { packBundle, type Bundle } from '../../specs/bundle.ts';
import { apiHarness, type ApiHarness } from '../api/helpers.ts';

const src = mkdtempSync(path.join(tmpdir(), 'forge-bundle-src-'));
after(() => rmSync(src, { recursive: true, force: true }));

function write(version: string): void {
  mkdirSync(src, { recursive: true });
  writeFileSync(path.join(src, 'server.js'), `require("http").createServer((q, s) => s.end("${version}")).listen(process.env.PORT);\n`);
}

const spec = () => ({ name: 'web', provider: 'agent', source: src, build: { commands: [] }, run: { command: 'node server.js' }, port: 8080 });

describe('bundle routes', () => {
  let h: ApiHarness;
  let v1: Bundle;
  let v2: Bundle;
  before(async () => {
    h = await apiHarness({ bundleLimitBytes: 64 * 1024 });
    write('v1');
    v1 = await packBundle(src);
    write('v2');
    v2 = await packBundle(src);
  });
  after(() => h.close());

  const put = (digest: string, body: Buffer) => h.app.inject({
    method: 'PUT', url: `/api/v1/bundles/${digest}`, headers: { ...h.auth(), 'content-type': 'application/gzip' }, payload: body,
  });
  const head = (digest: string) => h.app.inject({ method: 'HEAD', url: `/api/v1/bundles/${digest}`, headers: h.auth() });
  const apply = (bundles?: Record<string, string>) => h.app.inject({
    method: 'POST', url: '/api/v1/apply', headers: h.auth(), payload: { source: 'file:test', specs: [spec()], ...(bundles ? { bundles } : {}) },
  });

  test('needs an API key', async () => {
    const res = await h.app.inject({ method: 'HEAD', url: `/api/v1/bundles/${v1.digest}` });
    assert.equal(res.statusCode, 401);
  });

  test('HEAD is 404 until uploaded; PUT stores once, the same digest again is not stored twice', async () => {
    const missing = await head(v1.digest);
    assert.equal(missing.statusCode, 404);
    assert.equal(missing.headers['x-forge-bundle-limit'], String(64 * 1024));
    const first = await put(v1.digest, v1.gzip);
    assert.equal(first.statusCode, 201);
    assert.deepEqual(first.json(), { digest: v1.digest, stored: true, bytes: v1.gzip.length });
    assert.equal((await head(v1.digest)).statusCode, 200);
    const again = await put(v1.digest, v1.gzip);
    assert.equal(again.statusCode, 200);
    assert.equal(again.json().stored, false);
  });

  test('content that does not hash to the digest is refused and not kept', async () => {
    const res = await put(v2.digest, v1.gzip);
    assert.equal(res.statusCode, 400);
    assert.equal(res.json().error, 'E_BAD_REQUEST');
    assert.match(res.json().message, /content is sha256:[0-9a-f]{64}, not sha256:/);
    assert.equal((await head(v2.digest)).statusCode, 404);
    const bad = await put('sha256:nothex', v1.gzip);
    assert.equal(bad.statusCode, 400);
    const notGzip = await put(v2.digest, Buffer.from('plain text'));
    assert.equal(notGzip.statusCode, 400);
    assert.match(notGzip.json().message, /not a gzipped bundle/);
  });

  test('an upload over the limit is 413 E_TOO_LARGE naming the limit', async () => {
    const big = gzipSync(Buffer.alloc(10)).length > 0 ? Buffer.alloc(80 * 1024, 1) : Buffer.alloc(0);
    const res = await put(`sha256:${'a'.repeat(64)}`, big);
    assert.equal(res.statusCode, 413);
    assert.equal(res.json().error, 'E_TOO_LARGE');
    assert.match(res.json().message, /upload limit of 65536 bytes/);
    assert.equal(res.json().details.limitBytes, 65536);
  });

  test('apply naming a bundle that was not uploaded is refused before anything is written', async () => {
    const res = await apply({ web: v2.digest });
    assert.equal(res.statusCode, 400);
    assert.match(res.json().message, /bundle sha256:[0-9a-f]{64} was not uploaded/);
    assert.equal(h.store.services.get('web'), null);
  });

  test('the bundle is the revision: a source edit is a new generation, the same bundle is no change, rollback restores the old bundle', async () => {
    const first = await apply({ web: v1.digest });
    assert.equal(first.statusCode, 200, first.body);
    const row1 = h.store.services.get('web')!;
    assert.equal(row1.spec.revision, v1.digest);
    h.store.releases.record({ name: 'web', generation: row1.generation, hash: row1.hash, spec: row1.spec, revision: row1.spec.revision ?? null });
    h.store.releases.setOutcome('web', row1.generation, 'succeeded');

    assert.deepEqual((await apply({ web: v1.digest })).json().changed, [], 'same bundle: nothing changes');

    assert.equal((await put(v2.digest, v2.gzip)).statusCode, 201);
    const second = await apply({ web: v2.digest });
    assert.deepEqual(second.json().changed, ['web']);
    const row2 = h.store.services.get('web')!;
    assert.equal(row2.generation, row1.generation + 1);
    assert.equal(row2.spec.revision, v2.digest);
    h.store.releases.record({ name: 'web', generation: row2.generation, hash: row2.hash, spec: row2.spec, revision: row2.spec.revision ?? null });
    h.store.releases.setOutcome('web', row2.generation, 'failed');

    const back = await h.app.inject({ method: 'POST', url: '/api/compute/services/web/rollback', headers: h.auth(), payload: {} });
    assert.equal(back.statusCode, 200, back.body);
    assert.equal(h.store.services.get('web')!.spec.revision, v1.digest, 'the rollback builds exactly the old bundle');
  });

  test('retention: bundles a service or release names stay; an old unnamed one goes', async () => {
    const orphanDir = mkdtempSync(path.join(tmpdir(), 'forge-orphan-'));
    writeFileSync(path.join(orphanDir, 'x.txt'), 'orphan');
    const orphan = await packBundle(orphanDir);
    rmSync(orphanDir, { recursive: true, force: true });
    assert.equal((await put(orphan.digest, orphan.gzip)).statusCode, 201);
    const bundles = path.join(h.dir, 'bundles');
    const old = new Date(Date.now() - 2 * 3600_000);
    for (const b of [v1, v2, orphan]) utimesSync(path.join(bundles, `${b.digest.slice(7)}.tar.gz`), old, old);
    const { createBundleStore } = await import('../../api/bundle-store.ts');
    // (an upload also prunes in the background: the orphan may already be gone when this runs)
    const removed = await createBundleStore(bundles, 1 << 20).prune(h.store.revisions.referenced());
    assert.ok(removed.every((d) => d === orphan.digest));
    assert.equal((await head(orphan.digest)).statusCode, 404, 'nothing names it and it is old: removed');
    assert.equal((await head(v1.digest)).statusCode, 200, 'the rollback target stays');
    assert.equal((await head(v2.digest)).statusCode, 200);
  });
});
