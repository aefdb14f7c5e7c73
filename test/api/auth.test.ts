import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateApiKey, hashApiKey, constantTimeEqual } from '../../api/auth.ts';
import { createAuthLimits } from '../../api/auth-limits.ts';
import { apiHarness, type ApiHarness } from './helpers.ts';

const ADMIN_ROUTES: [string, string][] = [
  ['GET', '/api/compute/services'],
  ['GET', '/api/compute/services/web'],
  ['POST', '/api/compute/services'],
  ['POST', '/api/compute/services/deploy'],
  ['POST', '/api/compute/services/web/deploy-token'],
  ['PATCH', '/api/compute/services/web'],
  ['POST', '/api/compute/services/web/start'],
  ['POST', '/api/compute/services/web/stop'],
  ['DELETE', '/api/compute/services/web'],
  ['GET', '/api/compute/services/web/events'],
  ['GET', '/api/compute/services/web/logs'],
  ['GET', '/api/compute/config'],
  ['POST', '/api/v1/apply'],
  ['GET', '/api/v1/deployments'],
  ['GET', '/api/v1/deployments/dep_1'],
];

const GENERIC = { error: 'E_UNAUTHORIZED', message: 'authentication required: send a valid API key (x-api-key) or admin bearer token' };

describe('admin authentication', () => {
  let h: ApiHarness;
  let revoked: string;
  before(async () => {
    // 135 bad credentials from one address on purpose: the brute-force limit is test/api/rate-limit.test.ts's business.
    h = await apiHarness({ authLimits: createAuthLimits({ failures: { burst: 1_000_000, perSecond: 1 } }) });
    const made = generateApiKey();
    h.store.apiKeys.create({ name: 'old', hash: made.hash, prefix: made.prefix });
    h.store.apiKeys.revoke('old');
    revoked = made.key;
  });
  after(() => h.close());

  test('every admin route answers 401 with the same body for every kind of bad credential', async () => {
    const bad: [string, Record<string, string>][] = [
      ['none', {}],
      ['malformed key', { 'x-api-key': 'ik_nothex' }],
      ['unknown key', { 'x-api-key': generateApiKey().key }],
      ['revoked key', { 'x-api-key': revoked }],
      ['expired JWT', { authorization: `Bearer ${await h.jwt({ role: 'admin' }, { expiresIn: Math.floor(Date.now() / 1000) - 60 })}` }],
      ['JWT without exp', { authorization: `Bearer ${await h.jwt({ role: 'admin' }, { noExp: true })}` }],
      ['non-admin JWT', { authorization: `Bearer ${await h.jwt({ role: 'viewer' })}` }],
      ['JWT signed with another secret', { authorization: `Bearer ${await h.jwt({ role: 'admin' }, { secret: new TextEncoder().encode('x'.repeat(32)) })}` }],
      ['not a bearer', { authorization: 'Basic dXNlcjpwYXNz' }],
    ];
    for (const [method, url] of ADMIN_ROUTES) {
      for (const [label, headers] of bad) {
        const res = await h.app.inject({ method: method as 'GET', url, headers, payload: method === 'GET' || method === 'DELETE' ? undefined : {} });
        assert.equal(res.statusCode, 401, `${label}: ${method} ${url}`);
        assert.deepEqual(res.json(), GENERIC, `${label}: ${method} ${url}`);
      }
    }
  });

  test('a valid key and an admin JWT pass; the audit log names the actor', async () => {
    assert.equal((await h.app.inject({ method: 'GET', url: '/api/compute/config', headers: h.auth() })).statusCode, 200);
    const token = await h.jwt({ role: 'admin' });
    const res = await h.app.inject({ method: 'POST', url: '/api/compute/services', headers: { authorization: `Bearer ${token}` }, payload: { name: 'web', image: 'a' } });
    assert.equal(res.statusCode, 201);
    assert.equal(h.store.audit.list({ target: 'web' })[0]!.actor, 'jwt:ci-bot');
    assert.notEqual(h.store.apiKeys.list().find((k) => k.name === 'test')!.lastUsedAt, null);
  });

  test('healthz needs no auth', async () => {
    const res = await h.app.inject({ method: 'GET', url: '/healthz' });
    assert.deepEqual([res.statusCode, res.json()], [200, { ok: true }]);
  });
});

test('keys: ik_ + 64 hex, stored as sha256; constant-time compare', () => {
  const made = generateApiKey(() => Buffer.alloc(32, 0xab));
  assert.equal(made.key, `ik_${'ab'.repeat(32)}`);
  assert.equal(made.prefix, 'ik_ababab');
  assert.equal(made.hash, hashApiKey(made.key));
  assert.match(made.hash, /^[0-9a-f]{64}$/);
  assert.equal(constantTimeEqual('abc', 'abc'), true);
  assert.equal(constantTimeEqual('abc', 'abcd'), false);
});
