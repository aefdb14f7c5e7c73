// forge apply ships source folders: progress while uploading, nothing uploaded
// when the control plane has the digest, an edit is a new bundle and a new
// generation, and a folder over the control plane's limit is refused before upload.

import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { cliHarness, type CliHarness } from '../cli/helpers.ts';


describe('forge apply uploads source bundles', () => {
  let h: CliHarness;
  let app: string;
  before(async () => {
    h = await cliHarness({ bundleLimitBytes: 32 * 1024 });
    app = path.join(h.home, 'web');
    mkdirSync(app);
    writeFileSync(path.join(app, 'server.js'), 'console.log("v1")\n');
    writeFileSync(path.join(app, 'forge.yaml'), 'name: web\nprovider: agent\nsource: .\nbuild:\n  commands: []\nrun:\n  command: node server.js\n');
  });
  after(() => h.close());

  const apply = () => h.run(['apply', '-f', path.join(app, 'forge.yaml'), '--no-wait']);

  test('uploads with progress, then skips an unchanged folder; an edit is a new release', async () => {
    const first = await apply();
    assert.equal(first.exitCode, 0, first.stderr);
    assert.match(first.stderr, /^web: uploading bundle sha256:[0-9a-f]{12}… \(2 files, 0\.0 MB\) 100% done$/m);
    const row1 = h.api.store.services.get('web')!;
    assert.match(row1.spec.revision ?? '', /^sha256:[0-9a-f]{64}$/);

    const again = await apply();
    assert.equal(again.exitCode, 0, again.stderr);
    assert.match(again.stderr, /^web: bundle sha256:[0-9a-f]{12}… \(2 files\) already on the control plane$/m);
    assert.equal(h.api.store.services.get('web')!.generation, row1.generation, 'same files: same release');

    writeFileSync(path.join(app, 'server.js'), 'console.log("v2")\n');
    const edited = await apply();
    assert.equal(edited.exitCode, 0, edited.stderr);
    assert.match(edited.stderr, /uploading bundle/);
    const row2 = h.api.store.services.get('web')!;
    assert.equal(row2.generation, row1.generation + 1, 'a source edit with the same YAML is a new generation');
    assert.notEqual(row2.spec.revision, row1.spec.revision);
  });

  test('a folder over the limit is refused before anything is sent or written', async () => {
    writeFileSync(path.join(app, 'blob.bin'), randomBytes(64 * 1024));
    const generation = h.api.store.services.get('web')!.generation;
    const res = await apply();
    assert.notEqual(res.exitCode, 0);
    assert.match(res.stderr, /web: the bundle of .* is 0\.1 MB, over the control plane's 0\.0 MB limit; list build output and data in \.forgeignore/);
    assert.equal(h.api.store.services.get('web')!.generation, generation);
    writeFileSync(path.join(app, '.forgeignore'), 'blob.bin\n');
    const ignored = await apply();
    assert.equal(ignored.exitCode, 0, ignored.stderr);
  });
});
