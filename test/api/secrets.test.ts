import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { desiredHash, openSecrets, reloadingCipher, secretHashKey } from '../../api/secrets.ts';
import { createCipher } from '../../store/cipher.ts';
import { makeSpec } from '../helpers/spec.ts';
import { apiHarness, eventually, ENCRYPTION_KEY } from './helpers.ts';

const CANARY = 'canary-5f2b9c';

test('a canary secret never appears in responses, logs, events, errors, audit, metrics or the database file', async () => {
  const h = await apiHarness({ withLoop: true });
  const captured: string[] = [];
  const call = async (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: unknown, headers: Record<string, string> = h.auth()) => {
    const res = await h.app.inject({ method, url, headers, ...(payload === undefined ? {} : { payload: payload as object }) });
    captured.push(JSON.stringify(res.headers), res.body);
    return res;
  };
  try {
    assert.equal((await call('POST', '/api/compute/services', { name: 'web', image: 'nginx:1', envVars: { DB_PASSWORD: CANARY } })).statusCode, 201);
    await eventually(() => (h.store.status.get('web')?.phase === 'running' ? true : undefined));
    // Errors around the value: a bad name next to it, an unknown key holding it, both env forms, a value too long.
    assert.equal((await call('PATCH', '/api/compute/services/web', { envVars: { 'bad name': CANARY } })).statusCode, 400);
    assert.equal((await call('PATCH', '/api/compute/services/web', { envVars: { A: CANARY }, envVarsPatch: { set: { B: CANARY } } })).statusCode, 400);
    assert.equal((await call('PATCH', '/api/compute/services/web', { envVars: { A: CANARY.repeat(6000) } })).statusCode, 400);
    assert.equal((await call('PATCH', '/api/compute/services/web', { envVarsPatch: { set: { OTHER: CANARY } }, port: 0 })).statusCode, 400);
    assert.equal((await call('POST', '/api/compute/services', { name: 'web', envVars: { X: CANARY } }, {})).statusCode, 401);
    assert.equal((await call('PATCH', '/api/compute/services/web', { envVarsPatch: { set: { API_TOKEN: CANARY } } })).statusCode, 200);
    await eventually(() => (h.store.status.get('web')?.observedGeneration === 2 ? true : undefined));
    for (const url of ['/api/compute/services', '/api/compute/services/web', '/api/compute/services/web/events', '/api/compute/services/web/logs', '/metrics']) {
      assert.equal((await call('GET', url)).statusCode, 200, url);
    }
    assert.equal((await call('DELETE', '/api/compute/services/web')).statusCode, 202);
    await eventually(() => (h.store.services.get('web') === null ? true : undefined));

    assert.deepEqual(openSecrets(h.store, h.cipher, 'web'), {}, 'secrets went with the row');
    captured.push(...h.logs);
    captured.push(JSON.stringify(h.store.events.list('web', { limit: 1000 })));
    captured.push(JSON.stringify(h.store.audit.list({ limit: 1000 })));
    captured.push(JSON.stringify(h.store.releases.list('web')));
    captured.push(JSON.stringify(h.provider!.world.all()));
    assert.ok(h.logs.length > 10, 'the log was captured');
    assert.deepEqual(h.logs.filter((line) => line.includes(h.key) || line.includes('x-api-key')), [], 'no header values in logs');
    const completed = h.logs.map((line) => JSON.parse(line) as Record<string, unknown>).find((l) => l.msg === 'request completed')!;
    assert.match(String(completed.reqId), /^[0-9a-f]{12}$/);
    const hits = captured.filter((text) => text.includes(CANARY));
    assert.deepEqual(hits, []);
    for (const file of readdirSync(h.dir).filter((f) => f.startsWith('forge.db'))) {
      assert.equal(readFileSync(join(h.dir, file)).includes(Buffer.from(CANARY)), false, file);
    }
  } finally {
    await h.close();
  }
});

test('a value change bumps the generation; the same value does not; the hash is not the spec hash', async () => {
  const h = await apiHarness();
  try {
    const post = (value: string) => h.app.inject({ method: 'POST', url: '/api/compute/services', headers: h.auth(), payload: { name: 'api', image: 'a', envVars: { TOKEN: value } } });
    assert.equal((await post('one')).json().generation, 1);
    assert.equal((await post('one')).json().generation, 1);
    assert.equal((await post('two')).json().generation, 2);
    const row = h.store.services.get('api')!;
    const key = secretHashKey(ENCRYPTION_KEY);
    assert.equal(row.hash, desiredHash(row.spec, { TOKEN: 'two' }, key));
    assert.notEqual(row.hash, desiredHash(row.spec, { TOKEN: 'one' }, key));
    assert.deepEqual(openSecrets(h.store, h.cipher, 'api'), { TOKEN: 'two' });
  } finally {
    await h.close();
  }
});

test('desiredHash: plain specHash without secrets; the HMAC over sorted name=value lines with them', () => {
  const key = secretHashKey(Buffer.alloc(32, 1));
  const plain = makeSpec();
  const withSecret = makeSpec({ secrets: ['A', 'B'] });
  assert.equal(desiredHash(plain, { A: 'x' }, key), desiredHash(plain, {}, key));
  assert.notEqual(desiredHash(withSecret, { A: 'x', B: 'y' }, key), desiredHash(withSecret, { A: 'x', B: 'z' }, key));
  assert.equal(desiredHash(withSecret, { A: 'x', B: 'y', C: 'ignored' }, key), desiredHash(withSecret, { B: 'y', A: 'x' }, key));
  assert.notEqual(desiredHash(withSecret, { A: 'x' }, key), desiredHash(withSecret, { A: 'x' }, secretHashKey(Buffer.alloc(32, 2))));
});

test('a value that cannot be decrypted fails the service with E_SECRET_DECRYPT and deploys nothing', async () => {
  const h = await apiHarness({ withLoop: true });
  try {
    await h.loop!.stop();
    await h.app.inject({ method: 'POST', url: '/api/compute/services', headers: h.auth(), payload: { name: 'web', image: 'a', envVars: { DB: CANARY } } });
    // The value moved to another row (AAD mismatch) is what an attacker with DB access could try.
    const sealedForOther = createCipher([ENCRYPTION_KEY]).seal('other', 'DB', CANARY);
    h.store.secrets.put('web', 'DB', sealedForOther.ciphertext, sealedForOther.keyId);
    h.loop!.start();
    const status = await eventually(() => {
      const s = h.store.status.get('web');
      return s?.phase === 'failed' ? s : undefined;
    });
    assert.deepEqual(status.lastError, { code: 'E_SECRET_DECRYPT', message: 'secret DB of web could not be decrypted (wrong key or tampered value)' });
    assert.deepEqual(h.provider!.world.all(), []);
  } finally {
    await h.close();
  }
});

test('reloadingCipher picks up a rotated key file for values sealed under the new key', () => {
  const oldKey = Buffer.alloc(32, 1);
  const newKey = Buffer.alloc(32, 2);
  let file = [oldKey];
  const cipher = reloadingCipher(() => file);
  const sealedNew = createCipher([newKey]).seal('web', 'A', 'v');
  file = [newKey, oldKey];
  assert.equal(cipher.open('web', 'A', sealedNew), 'v');
  assert.equal(cipher.currentKeyId, createCipher([newKey]).currentKeyId);
});
