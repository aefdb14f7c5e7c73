// `forge keys rotate-encryption` re-seals registry credentials too, not only secret
// values: after the rotation and the old key's removal, the stored password of a
// private registry (a real one on loopback, with htpasswd auth) still opens, and a
// tag in that registry still resolves with it.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { runCli } from '../../cli/index.ts';
import { createCipher } from '../../store/cipher.ts';
import { openStore } from '../../store/index.ts';
import { createImagePinner } from '../../api/image-pins.ts';
import { openRegistry, sealRegistry } from '../../api/registries.ts';
import { buildBusyboxImage, startRegistry, type TestRegistry } from '../helpers/registry.ts';

const PASSWORD = 'rotate-Pw-8812-secret';
const oldKey = Buffer.alloc(32, 4);
const newKey = Buffer.alloc(32, 5);
const dir = mkdtempSync(path.join(tmpdir(), 'forge-regrot-'));
const dataDir = path.join(dir, 'data');
let registry: TestRegistry;
let digest = '';

before(async () => {
  registry = await startRegistry(path.join(dir, 'registry'), { username: 'deployer', password: PASSWORD });
  const layout = path.join(dir, 'layout');
  await buildBusyboxImage(layout, 'one', 'private v1\n');
  digest = await registry.push(layout, 'one', 'private-web:v1');
});

after(async () => {
  await registry?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('rotate-encryption re-seals registry credentials: with the old key gone they still open and pull', async () => {
  const store = openStore(dataDir);
  sealRegistry(store, createCipher([oldKey]), registry.host, { username: 'deployer', password: PASSWORD });
  store.close();
  writeFileSync(path.join(dataDir, 'encryption.key'), `${oldKey.toString('base64')}\n`, { mode: 0o600 });

  const both = `${newKey.toString('base64')},${oldKey.toString('base64')}`;
  const res = await runCli(['keys', 'rotate-encryption'], { cwd: dir, env: { FORGE_DATA_DIR: 'data', FORGE_ENCRYPTION_KEY: both } });
  assert.equal(res.exitCode, 0, res.stderr);
  assert.match(res.stdout, /1 of 1 registry credential\(s\)/);
  assert.ok(!res.stdout.includes(PASSWORD));

  const rotated = openStore(dataDir);
  try {
    const onlyNew = createCipher([newKey]);
    assert.equal(rotated.registries.get(registry.host)?.keyId, onlyNew.currentKeyId, 'sealed under the new key');
    assert.deepEqual(openRegistry(rotated, onlyNew, registry.host), { username: 'deployer', password: PASSWORD });
    // The control plane, with only the new key, resolves a tag in the private registry with them.
    assert.equal(await createImagePinner(rotated, onlyNew, dataDir)(`${registry.host}/private-web:v1`), digest);
  } finally {
    rotated.close();
  }
});
