// `forge deploy DIR` ships a folder with a source-mode spec as a bundle, exactly
// like forge apply: uploaded once, named by digest as the revision, an edit is a
// new release. A folder without such a spec goes to a provider whose capabilities
// include remote builds; a provider without them is refused before any write.

import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { cliHarness, type CliHarness } from '../cli/helpers.ts';

describe('forge deploy DIR ships a bundle', () => {
  let h: CliHarness;
  let app: string;
  before(async () => {
    h = await cliHarness({
      bundleLimitBytes: 1024 * 1024,
      providersConfig: {
        agent: { configured: true, runs: { images: false, source: true } },
        fly: { configured: true, runs: { images: true, source: false, remoteBuilds: true } },
        cloud: { configured: true, runs: { images: true, source: false } },
      },
    });
    app = path.join(h.home, 'web');
    mkdirSync(app);
    writeFileSync(path.join(app, 'server.js'), 'console.log("v1")\n');
    writeFileSync(path.join(app, 'forge.yaml'), 'name: web\nprovider: agent\nsource: .\nbuild:\n  commands: []\nrun:\n  command: node server.js\n');
    mkdirSync(path.join(h.home, 'docker'));
    writeFileSync(path.join(h.home, 'docker', 'Dockerfile'), 'FROM scratch\n');
  });
  after(() => h.close());

  const deploy = (...extra: string[]) => h.run(['deploy', 'web', '--name', 'site', '--no-wait', ...extra]);

  test('uploads the folder, names the digest as the revision, and an edit is a new release', async () => {
    const first = await deploy('--port', '8081');
    assert.equal(first.exitCode, 0, first.stderr);
    assert.match(first.stdout, /^site: uploading bundle sha256:[0-9a-f]{12}… \(2 files, 0\.0 MB\) 100% done$/m);
    assert.match(first.stdout, /^created site \(generation 1, /m);
    const row1 = h.api.store.services.get('site')!;
    assert.match(row1.spec.revision ?? '', /^sha256:[0-9a-f]{64}$/);
    assert.equal(row1.spec.port, 8081, 'a flag overrides the spec file');
    assert.equal(row1.spec.run?.command, 'node server.js');
    assert.ok(await h.api.app.inject({ method: 'HEAD', url: `/api/v1/bundles/${row1.spec.revision}`, headers: h.api.auth() }).then((r) => r.statusCode === 200));

    const again = await deploy('--port', '8081');
    assert.equal(again.exitCode, 0, again.stderr);
    assert.match(again.stdout, /already on the control plane/);
    assert.equal(h.api.store.services.get('site')!.generation, row1.generation, 'same files, same flags: same release');

    writeFileSync(path.join(app, 'server.js'), 'console.log("v2")\n');
    const edited = await deploy('--port', '8081');
    assert.equal(edited.exitCode, 0, edited.stderr);
    const row2 = h.api.store.services.get('site')!;
    assert.equal(row2.generation, row1.generation + 1);
    assert.notEqual(row2.spec.revision, row1.spec.revision);
  });

  test('env flags with a bundled deploy are refused with how to set secrets; nothing is written', async () => {
    const before = h.api.store.services.get('site')!.generation;
    const res = await deploy('--env-set', 'A=1');
    assert.equal(res.exitCode, 2);
    assert.match(res.stderr, /env flags do not combine with a source deploy .* forge secrets set site KEY=-/);
    assert.ok(!res.stderr.includes('A=1'));
    assert.equal(h.api.store.services.get('site')!.generation, before);
  });

  test('a folder with no source spec and a provider without remote builds is refused before any write (by capability)', async () => {
    for (const provider of ['agent', 'cloud']) {
      const res = await h.run(['deploy', 'docker', '--name', `img-${provider}`, '--provider', provider, '--no-wait']);
      assert.equal(res.exitCode, 2, res.stderr);
      assert.match(res.stderr, new RegExp(`img-${provider}: provider ${provider} does not build a folder remotely; put a forge\\.yaml with build\\.commands and run\\.command in the folder`));
      assert.equal(h.api.store.services.get(`img-${provider}`), null);
    }
  });
});
