// POST /api/compute/services/:id/rollback through inject(): the earlier release's
// spec becomes desired again as a new generation, hashed the way the API hashes
// (secret values folded in), audited, nudged; errors with their codes.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { desiredHash, secretHashKey } from '../../api/secrets.ts';
import { apiHarness, ENCRYPTION_KEY, type ApiHarness } from './helpers.ts';

const CANARY = 'canary-rollback-7f3a91';

describe('rollback route', () => {
  let h: ApiHarness;
  before(async () => {
    h = await apiHarness();
  });
  after(() => h.close());

  const call = (method: 'GET' | 'POST' | 'PATCH', url: string, payload?: unknown, headers = h.auth()) =>
    h.app.inject({ method, url, headers, ...(payload === undefined ? {} : { payload: payload as object }) });

  /** What the controller does once a generation runs: record it as a release that succeeded. */
  function released(generation: number, outcome: 'succeeded' | 'failed' = 'succeeded'): void {
    const row = h.store.services.get('web')!;
    assert.equal(row.generation, generation);
    h.store.releases.record({ name: 'web', generation, hash: row.hash, spec: row.spec, revision: row.spec.image ?? null });
    h.store.releases.setOutcome('web', generation, outcome);
  }

  test('rolls back to the last release that succeeded, as a new generation with the API hash', async () => {
    assert.equal((await call('POST', '/api/compute/services', { name: 'web', image: 'app:1', envVars: { TOKEN: CANARY } })).statusCode, 201);
    released(1);
    const firstHash = h.store.services.get('web')!.hash;
    await call('PATCH', '/api/compute/services/web', { image: 'app:2' });
    released(2, 'failed');
    h.nudged.length = 0;

    const res = await call('POST', '/api/compute/services/web/rollback', {});
    assert.equal(res.statusCode, 200);
    const body = res.json();
    assert.deepEqual([body.name, body.toGeneration, body.generation], ['web', 1, 3]);
    assert.deepEqual([body.service.name, body.service.image, body.service.generation, body.service.envKeys], ['web', 'app:1', 3, ['TOKEN']]);
    const row = h.store.services.get('web')!;
    assert.equal(row.hash, firstHash, 'same spec and same secret values: the same desired hash as release 1');
    assert.deepEqual(h.nudged, ['web']);
    const audit = h.store.audit.list({ limit: 100 }).find((a) => a.action === 'rollback');
    assert.deepEqual(audit && [audit.actor, audit.target, audit.details], ['key:test', 'web', { from: 2, to: 1, generation: 3 }]);
  });

  test('the hash folds in the current secret values (a release keeps names, not values)', async () => {
    const patched = await call('PATCH', '/api/compute/services/web', { envVarsPatch: { set: { TOKEN: 'other-value' } } });
    assert.equal(patched.json().generation, 4, 'a new value is a new generation');
    const res = await call('POST', '/api/compute/services/web/rollback', { to: 2 });
    assert.equal(res.statusCode, 200);
    assert.deepEqual([res.json().toGeneration, res.json().generation, res.json().service.image], [2, 5, 'app:2']);
    const row = h.store.services.get('web')!;
    assert.equal(row.hash, desiredHash(row.spec, { TOKEN: 'other-value' }, secretHashKey(ENCRYPTION_KEY)));
  });

  test('errors: unknown release 404, already desired 409, unknown service 404, bad body 400, no auth 401', async () => {
    const missing = await call('POST', '/api/compute/services/web/rollback', { to: 99 });
    assert.deepEqual([missing.statusCode, missing.json()], [404, { error: 'E_NOT_FOUND', message: 'web has no release 99' }]);
    released(5);
    const current = await call('POST', '/api/compute/services/web/rollback', { to: 5 });
    assert.deepEqual([current.statusCode, current.json()], [409, { error: 'E_CONFLICT', message: 'release 5 of web is already the desired one' }]);
    const nobody = await call('POST', '/api/compute/services/nope/rollback', {});
    assert.deepEqual([nobody.statusCode, nobody.json()], [404, { error: 'E_NOT_FOUND', message: 'no service "nope"' }]);
    const wrongType = await call('POST', '/api/compute/services/web/rollback', { to: 'one' });
    assert.deepEqual([wrongType.statusCode, wrongType.json().error, wrongType.json().message], [400, 'E_BAD_REQUEST', 'invalid request body: to: must be integer']);
    const extra = await call('POST', '/api/compute/services/web/rollback', { to: 1, force: true });
    assert.deepEqual([extra.statusCode, extra.json().message], [400, 'invalid request body: force: unknown key']);
    const anonymous = await call('POST', '/api/compute/services/web/rollback', {}, {});
    assert.equal(anonymous.statusCode, 401);
    assert.equal(h.store.services.get('web')!.generation, 5, 'no failed request wrote anything');
  });

  test('no response, log line or event holds a secret value', async () => {
    const events = h.store.events.list('web', { limit: 100 });
    assert.ok(events.some((e) => e.reason === 'Rollback'));
    for (const text of [...h.logs, JSON.stringify(events), JSON.stringify(h.store.audit.list({ limit: 100 }))]) {
      assert.ok(!text.includes(CANARY) && !text.includes('other-value'), 'a secret value leaked');
    }
  });
});
