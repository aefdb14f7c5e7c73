// `forge keys …` and `forge server` through runCli, on a real data dir.

import { CADDY_INSTALL_HINT } from '../../router/managed-caddy.ts';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../../cli/index.ts';
import { createCipher, parseEncryptionKey } from '../../store/cipher.ts';
import { openStore } from '../../store/index.ts';
import { makeSpec } from '../helpers/spec.ts';

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'forge-cli-'));
}

test('keys create (--json) / list / revoke', async () => {
  const dir = tempDir();
  const deps = { cwd: dir, env: { FORGE_DATA_DIR: 'data' }, random: (n: number) => Buffer.alloc(n, 0xcd) };
  try {
    const json = await runCli(['keys', 'create', '--name', 'ci', '--json'], deps);
    assert.deepEqual([json.exitCode, JSON.parse(json.stdout)], [0, { key: `ik_${'cd'.repeat(32)}` }]);
    const plain = await runCli(['keys', 'create'], { cwd: dir, env: { FORGE_DATA_DIR: 'data' } });
    assert.match(plain.stdout, /^created API key default \(key_[0-9a-f]{16}\)\nik_[0-9a-f]{64}\nThis is the only time the key is shown; store it now \(e\.g\. FORGE_API_KEY\)\.\n$/);
    const list = await runCli(['keys', 'list', '--json'], deps);
    const rows = JSON.parse(list.stdout) as { name: string; prefix: string; revokedAt: string | null; hash?: string }[];
    assert.deepEqual(rows.map((r) => [r.name, r.revokedAt, r.hash]), [['ci', null, undefined], ['default', null, undefined]]);
    assert.equal(rows[0]!.prefix, 'ik_cdcdcd');
    assert.doesNotMatch((await runCli(['keys', 'list'], deps)).stdout, /cd{10}/);
    assert.deepEqual(await runCli(['keys', 'revoke', 'ci'], deps), { exitCode: 0, stdout: 'revoked 1 key(s) matching ci\n', stderr: '' });
    assert.deepEqual(await runCli(['keys', 'revoke', 'ci'], deps), { exitCode: 1, stdout: '', stderr: 'forge keys revoke: no active key with id or name ci\n' });
    assert.equal((await runCli(['keys', 'frobnicate'], deps)).exitCode, 2);
    assert.equal((await runCli(['keys', 'create', '--colour'], deps)).exitCode, 2);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('keys rotate-encryption re-seals every value under a new key; old values keep opening meanwhile', async () => {
  const dir = tempDir();
  const dataDir = join(dir, 'data');
  const oldKey = Buffer.alloc(32, 1);
  try {
    const store = openStore(dataDir);
    store.services.upsert({ name: 'web', spec: makeSpec(), hash: 'h', source: 'api' });
    const old = createCipher([oldKey]);
    for (const [k, v] of [['A', 'alpha'], ['B', 'beta']] as const) {
      const sealed = old.seal('web', k, v);
      store.secrets.put('web', k, sealed.ciphertext, sealed.keyId);
    }
    store.close();
    await import('node:fs').then((fs) => fs.writeFileSync(join(dataDir, 'encryption.key'), `${oldKey.toString('base64')}\n`, { mode: 0o600 }));

    const res = await runCli(['keys', 'rotate-encryption'], { cwd: dir, env: { FORGE_DATA_DIR: 'data' }, random: (n: number) => Buffer.alloc(n, 2) } as never);
    assert.equal(res.stdout, `re-encrypted 2 of 2 secret value(s) under a new key written to ${join(dataDir, 'encryption.key')}; the running control plane picks it up without a restart\n`);
    const keys = readFileSync(join(dataDir, 'encryption.key'), 'utf8').trim().split('\n').map(parseEncryptionKey);
    assert.deepEqual(keys, [Buffer.alloc(32, 2), oldKey]);
    const after = openStore(dataDir);
    const fresh = createCipher([Buffer.alloc(32, 2)]);
    assert.deepEqual(after.secrets.all('web').map((r) => [r.keyId, fresh.open('web', r.key, r)]), [[fresh.currentKeyId, 'alpha'], [fresh.currentKeyId, 'beta']]);
    after.close();

    const production = await runCli(['keys', 'rotate-encryption'], { cwd: dir, env: { FORGE_DATA_DIR: 'data', FORGE_ENCRYPTION_KEY: oldKey.toString('base64') }, random: (n: number) => Buffer.alloc(n, 3) } as never);
    assert.match(production.stdout, new RegExp(`^FORGE_ENCRYPTION_KEY holds one key\\. To rotate without downtime:\\n  1\\. set FORGE_ENCRYPTION_KEY=${Buffer.alloc(32, 3).toString('base64').replace(/[+/]/g, '\\$&')},`));
    const both = `${Buffer.alloc(32, 3).toString('base64')},${Buffer.alloc(32, 2).toString('base64')}`;
    const second = await runCli(['keys', 'rotate-encryption'], { cwd: dir, env: { FORGE_DATA_DIR: 'data', FORGE_ENCRYPTION_KEY: both } });
    assert.equal(second.stdout, 're-encrypted 2 of 2 secret value(s) under the first key of FORGE_ENCRYPTION_KEY; the other keys may now be removed\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('forge server starts, serves, reports providers and notices, and stops when the signal aborts', async () => {
  const dir = tempDir();
  const abort = new AbortController();
  const printed: string[] = [];
  try {
    const key = JSON.parse((await runCli(['keys', 'create', '--json'], { cwd: dir, env: { FORGE_DATA_DIR: 'data' } })).stdout).key as string;
    const running = runCli(['server', '--addr', '127.0.0.1:0', '--data-dir', 'data', '--no-local-agent'], {
      cwd: dir, env: {}, signal: abort.signal, print: (text: string) => printed.push(text),
    } as never);
    while (printed.length < 2) await new Promise((resolve) => setTimeout(resolve, 20));
    const url = /listening on (http:\/\/127\.0\.0\.1:\d+) \(development mode, data dir /.exec(printed[0]!)?.[1];
    assert.ok(url, printed[0]);
    assert.equal(printed[1], 'providers: agent (configured), fly (not configured: FLY_API_TOKEN is not set), cloud (not configured: PROJECT_ID is not set)\n');
    assert.deepEqual(printed.slice(2).map((l) => l.replace(/ in \S+ /, ' in DIR ')), [
      `router: no router: ${CADDY_INSTALL_HINT}. Services answer at their instances' direct addresses, which change on redeploy.\n`,
      'notice: development mode: generated an encryption key in DIR (set FORGE_ENCRYPTION_KEY in production)\n',
      'notice: development mode: generated a JWT secret in DIR (set FORGE_JWT_SECRET in production)\n',
    ]);
    assert.equal((await fetch(`${url}/healthz`)).status, 200);
    const list = await fetch(`${url}/api/compute/services`, { headers: { 'x-api-key': key } });
    assert.deepEqual([list.status, await list.json()], [200, []]);
    abort.abort();
    const result = await running;
    assert.equal(result.exitCode, 0);
    assert.equal(printed.at(-1), 'forge server: stopped\n');
    await assert.rejects(fetch(`${url}/healthz`));
  } finally {
    abort.abort();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('forge server: FLY_API_TOKEN without FLY_ORG is a start-up error naming it', async () => {
  const dir = tempDir();
  try {
    const res = await runCli(['server', '--addr', '127.0.0.1:0'], { cwd: dir, env: { FORGE_DATA_DIR: 'data', FLY_API_TOKEN: 't' } });
    assert.deepEqual(res, { exitCode: 2, stdout: '', stderr: 'forge server: E_USAGE: FLY_API_TOKEN is set but FLY_ORG is not: set FLY_ORG to the slug of the Fly organization Forge deploys into (see `fly orgs list`)\n' });
    assert.equal((await runCli(['server', '--port'], { cwd: dir, env: {} })).exitCode, 2);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
