// In production a source-mode service must name a bundle: a plain folder path is
// a path on the client's disk that agents on other hosts cannot read, so the
// apply is refused (400, nothing written) with how to fix it. Development mode
// (forge dev, one host) keeps building from the folder.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { packBundle } from '../../specs/bundle.ts';
import { apiHarness, type ApiHarness } from '../api/helpers.ts';

const src = mkdtempSync(path.join(tmpdir(), 'forge-prod-src-'));
writeFileSync(path.join(src, 'server.js'), 'console.log("hi")\n');
after(() => rmSync(src, { recursive: true, force: true }));

const sourceSpec = (name: string) => ({ name, provider: 'agent', source: src, build: { commands: [] }, run: { command: 'node server.js' }, port: 8080 });
const imageSpec = { name: 'img', provider: 'fly', image: 'nginx:1.27', port: 80 };

function apply(h: ApiHarness, specs: unknown[], bundles?: Record<string, string>, dryRun = false) {
  return h.app.inject({ method: 'POST', url: '/api/v1/apply', headers: h.auth(), payload: { source: 'file:t', specs, dryRun, ...(bundles ? { bundles } : {}) } });
}

describe('source folders in production', () => {
  test('production: a source service naming a folder and no bundle is refused with how to fix it; nothing is written', async () => {
    const h = await apiHarness({ config: { mode: 'production' } });
    try {
      for (const dryRun of [true, false]) {
        const res = await apply(h, [sourceSpec('web'), imageSpec], undefined, dryRun);
        assert.equal(res.statusCode, 400, res.body);
        const body = res.json();
        assert.equal(body.error, 'E_SOURCE_NOT_BUNDLED');
        assert.equal(body.message,
          `service web names the folder ${src} as its source, which agents on other hosts cannot read (production mode); ` +
          'deploy it with forge apply -f or forge deploy DIR, which upload the folder as a bundle, or upload it yourself (PUT /api/v1/bundles/<digest>) and name it under bundles.web');
        assert.deepEqual(body.details, [{ path: 'bundles.web', message: 'a source-mode service needs a bundle digest in production' }]);
      }
      assert.equal(h.store.services.get('web'), null);
      assert.equal(h.store.services.get('img'), null, 'the whole set is refused');
    } finally {
      await h.close();
    }
  });

  test('production: the same service with an uploaded bundle is accepted', async () => {
    const h = await apiHarness({ config: { mode: 'production' } });
    try {
      const bundle = await packBundle(src);
      const put = await h.app.inject({ method: 'PUT', url: `/api/v1/bundles/${bundle.digest}`, headers: { ...h.auth(), 'content-type': 'application/gzip' }, payload: bundle.gzip });
      assert.equal(put.statusCode, 201, put.body);
      const res = await apply(h, [sourceSpec('web')], { web: bundle.digest });
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(h.store.services.get('web')!.spec.revision, bundle.digest);
    } finally {
      await h.close();
    }
  });

  test('development: a folder without a bundle still applies (forge dev on one host)', async () => {
    const h = await apiHarness({ config: { mode: 'development' } });
    try {
      const res = await apply(h, [sourceSpec('web')]);
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(h.store.services.get('web')!.spec.sourceDir, src);
    } finally {
      await h.close();
    }
  });
});
