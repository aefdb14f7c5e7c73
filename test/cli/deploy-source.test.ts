// `forge deploy DIR` without --image: the API prepares the Fly app and a deploy
// token, flyctl (a stand-in script here, run for real) builds, and the image it
// reports is PATCHed in. Also --env-file, and a missing flyctl.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ServiceJson } from '../../api/service-json.ts';
import { openSecrets } from '../../api/secrets.ts';
import { cliHarness, type CliHarness } from './helpers.ts';

const TOKEN = 'FlyV1 fm2_deploytoken_abc';

describe('forge deploy from a source directory', () => {
  let h: CliHarness;
  let flyctl: string;
  before(async () => {
    h = await cliHarness({ deployToken: async (name) => ({ app: `${name}-proj`, token: TOKEN, expiresAt: 1_700_000_000_000 }) });
    mkdirSync(join(h.home, 'app'));
    writeFileSync(join(h.home, 'app', 'Dockerfile'), 'FROM scratch\n');
    flyctl = join(h.home, 'flyctl');
    // Stands in for flyctl: prints what it was given (the token must come out masked) and the pushed image.
    writeFileSync(flyctl, '#!/bin/sh\necho "flyctl $1 --app $4 token=$FLY_API_TOKEN"\necho "image: registry.fly.io/$4:built"\n');
    chmodSync(flyctl, 0o755);
  });
  after(() => h.close());

  test('builds with flyctl and the deploy token, then sets the image; the token is never printed', async () => {
    const result = await h.run(['deploy', 'app', '--name', 'site', '--port', '3000', '--no-wait'], { env: { FLYCTL: flyctl, PATH: process.env.PATH } });
    assert.deepEqual(result, {
      exitCode: 0, stderr: '',
      stdout: [
        "building " + join(h.home, 'app') + " on Fly's remote builder for site-proj…",
        'flyctl deploy --app site-proj token=[token]',
        'image: registry.fly.io/site-proj:built',
        'built registry.fly.io/site-proj:built',
        'created site (generation 2, pending)',
        '',
      ].join('\n'),
    });
    const row = h.api.store.services.get('site')!;
    assert.deepEqual([row.spec.provider, row.spec.image, row.spec.port, row.state], ['fly', 'registry.fly.io/site-proj:built', 3000, 'running']);
  });

  test('a missing flyctl is a clear error saying how to install it', async () => {
    const result = await h.run(['deploy', 'app', '--name', 'site2', '--no-wait'], { env: { FLYCTL: join(h.home, 'no-flyctl') } });
    assert.equal(result.exitCode, 2);
    assert.match(result.stderr, /^forge deploy: E_USAGE: flyctl was not found \(tried ".*no-flyctl"\); source deploys to Fly build with it: install it with /);
  });

  test('--env-file replaces every variable with the file\'s values', async () => {
    writeFileSync(join(h.home, 'prod.env'), '# prod\nDATABASE_URL=postgres://u:p@db/app\nexport LOG_LEVEL="info"\n');
    const result = await h.run(['deploy', '--name', 'worker', '--image', 'w:1', '--env-file', 'prod.env', '--no-wait', '--json']);
    const body = JSON.parse(result.stdout) as ServiceJson;
    assert.deepEqual(body.envKeys, ['DATABASE_URL', 'LOG_LEVEL']);
    assert.ok(!result.stdout.includes('postgres://'));
    assert.deepEqual(openSecrets(h.api.store, h.api.cipher, 'worker'), { DATABASE_URL: 'postgres://u:p@db/app', LOG_LEVEL: 'info' });
    const replaced = await h.run(['update', 'worker', '--env', '{"ONLY":"1"}', '--no-wait']);
    assert.equal(replaced.exitCode, 0, replaced.stderr);
    assert.deepEqual(openSecrets(h.api.store, h.api.cipher, 'worker'), { ONLY: '1' });
  });
});
