// Brute force is answered 429 with Retry-After, per source address, and counted.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import Fastify from 'fastify';
import { agentRoutes } from '../../api/agent-routes.ts';
import { createAuthLimits } from '../../api/auth-limits.ts';
import { createRateLimiter } from '../../api/rate-limit.ts';
import { tempStore } from '../store/helpers.ts';
import { apiHarness } from './helpers.ts';

test('token bucket: burst, refill on the injected clock, Retry-After in whole seconds, bounded keys', () => {
  const clock = { now: 0 };
  const limiter = createRateLimiter({ burst: 2, perSecond: 0.5, maxKeys: 2 }, () => clock.now);
  assert.deepEqual([limiter.take('a').ok, limiter.take('a').ok], [true, true]);
  assert.deepEqual(limiter.take('a'), { ok: false, retryAfterSeconds: 2 });
  clock.now = 1_000;
  assert.deepEqual(limiter.check('a'), { ok: false, retryAfterSeconds: 1 });
  clock.now = 2_000;
  assert.equal(limiter.take('a').ok, true);
  assert.equal(limiter.take('b').ok, true);
  limiter.take('c'); // 'a' is forgotten (least recently touched): it starts full again
  assert.deepEqual([limiter.take('a').ok, limiter.take('a').ok], [true, true]);
});

test('5,000 wrong API keys: after the burst every attempt is 429 with Retry-After, the right key too, until time passes', async () => {
  const clock = { now: Date.UTC(2026, 0, 1) };
  const h = await apiHarness({ now: () => clock.now });
  try {
    const wrong = { 'x-api-key': `ik_${'0'.repeat(64)}` };
    const statuses = new Map<number, number>();
    for (let i = 0; i < 5_000; i += 1) {
      const res = await h.app.inject({ method: 'GET', url: '/api/compute/services', headers: wrong });
      statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
      if (res.statusCode === 429) {
        assert.equal(res.headers['retry-after'], '2');
        assert.equal(res.json().error, 'E_RATE_LIMITED');
        break;
      }
    }
    assert.deepEqual([...statuses], [[401, 20], [429, 1]]);
    const blocked = await h.app.inject({ method: 'GET', url: '/api/compute/services', headers: h.auth() });
    assert.equal(blocked.statusCode, 429, 'a blocked source is refused before its credential is looked at');
    const elsewhere = await h.app.inject({ method: 'GET', url: '/api/compute/services', headers: h.auth(), remoteAddress: '10.9.9.9' });
    assert.equal(elsewhere.statusCode, 200, 'other addresses are not affected');
    clock.now += 2_000;
    assert.equal((await h.app.inject({ method: 'GET', url: '/api/compute/services', headers: h.auth() })).statusCode, 200);
    const metrics = await h.app.inject({ method: 'GET', url: '/metrics', headers: h.auth() });
    assert.match(metrics.body, /forge_auth_failures_total\{surface="admin"\} 20/);
    assert.match(metrics.body, /forge_rate_limited_total\{limit="auth_failures"\} 2/);
  } finally {
    await h.close();
  }
});

test('agent registrations and bad agent tokens are rate limited per source address', async () => {
  const ts = tempStore();
  const clock = { now: 0 };
  const app = Fastify();
  const limits = createAuthLimits({ now: () => clock.now, registrations: { burst: 3, perSecond: 0.1 }, failures: { burst: 5, perSecond: 1 } });
  await app.register(agentRoutes({ store: ts.store, registrationTokens: ['reg-token'], secretsFor: () => ({}), limits }));
  const register = (token = 'reg-token') => app.inject({
    method: 'POST', url: '/api/agents/register', headers: { authorization: `Bearer ${token}` },
    payload: { name: 'a', capacity: { cpus: 1, memoryBytes: 1 } },
  });
  try {
    for (let i = 0; i < 3; i += 1) assert.equal((await register()).statusCode, 201);
    const flood = await register();
    assert.deepEqual([flood.statusCode, flood.headers['retry-after'], flood.json().error], [429, '10', 'E_RATE_LIMITED']);
    assert.equal(ts.store.agents.list().length, 3);
    for (let i = 0; i < 5; i += 1) assert.equal((await register('guess')).statusCode, 401);
    assert.equal((await register('guess')).statusCode, 429);
  } finally {
    await app.close();
    ts.cleanup();
  }
});
