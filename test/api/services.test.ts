import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { apiHarness, type ApiHarness } from './helpers.ts';

describe('compute services routes', () => {
  let h: ApiHarness;
  before(async () => {
    h = await apiHarness({
      deployToken: async (name) => ({ app: `${name}-proj`, token: 'FlyV1 deploy-token', expiresAt: 1_700_000_000_000 }),
    });
  });
  after(() => h.close());

  const call = (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: unknown) =>
    h.app.inject({ method, url, headers: h.auth(), ...(payload === undefined ? {} : { payload: payload as object }) });

  test('POST creates and launches (201), the same name again patches (200), never "exists"', async () => {
    const created = await call('POST', '/api/compute/services', { name: 'web', image: 'nginx:1.27', port: 80, cpu: 'shared-2x', memory: 512, region: 'ams' });
    assert.equal(created.statusCode, 201);
    const body = created.json();
    assert.equal(body.name, 'web');
    assert.match(body.id, /^svc_[0-9a-f]{16}$/);
    assert.deepEqual(
      { provider: body.provider, status: body.status, generation: body.generation, image: body.image, port: body.port, cpu: body.cpu, memory: body.memory, region: body.region, replicas: body.replicas, envKeys: body.envKeys, instances: body.instances, desiredState: body.desiredState, source: body.source },
      { provider: 'agent', status: 'pending', generation: 1, image: 'nginx:1.27', port: 80, cpu: 'shared-2x', memory: 512, region: 'ams', replicas: 1, envKeys: [], instances: [], desiredState: 'running', source: 'api' },
    );
    assert.deepEqual(h.nudged.slice(-1), ['web']);

    const again = await call('POST', '/api/compute/services', { name: 'web', image: 'nginx:1.28' });
    assert.equal(again.statusCode, 200);
    assert.equal(again.json().generation, 2);
    assert.equal(again.json().port, 80, 'fields not given are kept');

    const same = await call('POST', '/api/compute/services', { name: 'web', image: 'nginx:1.28' });
    assert.equal(same.json().generation, 2, 'no change, no new generation');
  });

  test('GET list and GET by id or name', async () => {
    const list = await call('GET', '/api/compute/services');
    assert.equal(list.statusCode, 200);
    assert.deepEqual(list.json().map((s: { name: string }) => s.name), ['web']);
    const byName = await call('GET', '/api/compute/services/web');
    const byId = await call('GET', `/api/compute/services/${byName.json().id}`);
    assert.deepEqual(byId.json(), byName.json());
    const missing = await call('GET', '/api/compute/services/nope');
    assert.equal(missing.statusCode, 404);
    assert.deepEqual(missing.json(), { error: 'E_NOT_FOUND', message: 'no service "nope"' });
  });

  test('PATCH updates fields; envVars replace, envVarsPatch merges; both at once → 400', async () => {
    const patched = await call('PATCH', '/api/compute/services/web', { memory: 1024, envVars: { A: '1', B: '2' } });
    assert.equal(patched.statusCode, 200);
    assert.deepEqual([patched.json().memory, patched.json().envKeys], [1024, ['A', 'B']]);
    const merged = await call('PATCH', '/api/compute/services/web', { envVarsPatch: { set: { C: '3' }, unset: ['A'] } });
    assert.deepEqual(merged.json().envKeys, ['B', 'C']);
    assert.deepEqual(h.store.services.get('web')!.spec.secrets, ['B', 'C']);
    const both = await call('PATCH', '/api/compute/services/web', { envVars: { A: '1' }, envVarsPatch: { set: { B: '2' } } });
    assert.equal(both.statusCode, 400);
    assert.deepEqual(both.json(), {
      error: 'E_BAD_REQUEST', message: 'give either envVars (replace all) or envVarsPatch (merge), not both',
      details: [{ path: 'envVarsPatch', message: 'cannot be combined with envVars' }],
    });
    assert.equal((await call('PATCH', '/api/compute/services/nope', { port: 81 })).statusCode, 404);
  });

  test('unknown body keys, wrong types and spec rule violations are 400 with details', async () => {
    const unknown = await call('POST', '/api/compute/services', { name: 'x', image: 'a', colour: 'blue' });
    assert.equal(unknown.statusCode, 400);
    assert.deepEqual(unknown.json(), { error: 'E_BAD_REQUEST', message: 'invalid request body: colour: unknown key', details: [{ path: 'colour', message: 'unknown key' }] });
    const wrongType = await call('PATCH', '/api/compute/services/web', { port: '80' });
    assert.equal(wrongType.statusCode, 400);
    assert.deepEqual(wrongType.json().details, [{ path: 'port', message: 'must be integer' }]);
    const badEnvName = await call('PATCH', '/api/compute/services/web', { envVars: { 'bad-name': 'x' } });
    assert.equal(badEnvName.statusCode, 400);
    const spec = await call('POST', '/api/compute/services', { name: 'Bad_Name', image: 'a', port: 70000, memory: 100 });
    assert.equal(spec.statusCode, 400);
    const body = spec.json();
    assert.equal(body.error, 'E_SPEC_INVALID');
    assert.deepEqual(body.details.map((d: { path: string }) => d.path), ['name', 'port', 'memory']);
    const noImage = await call('POST', '/api/compute/services', { name: 'empty' });
    assert.equal(noImage.statusCode, 400);
    assert.equal(noImage.json().message, 'a service needs `image` (image mode) or `run.command` (source mode)');
    assert.equal(h.store.services.get('empty'), null, 'nothing written');
  });

  test('a provider that is not configured → 503 COMPUTE_NOT_CONFIGURED', async () => {
    const res = await call('POST', '/api/compute/services', { name: 'cl', image: 'a', provider: 'cloud' });
    assert.equal(res.statusCode, 503);
    assert.deepEqual(res.json(), { error: 'COMPUTE_NOT_CONFIGURED', message: 'provider cloud is not configured on this control plane: PROJECT_ID and CLOUD_API_HOST are not set' });
  });

  test('source deploy creates the row stopped with a deploy token; the image PATCH launches it', async () => {
    const res = await call('POST', '/api/compute/services/deploy', { name: 'src', port: 3000 });
    assert.equal(res.statusCode, 201);
    const body = res.json();
    assert.deepEqual([body.provider, body.desiredState, body.image, body.deployToken], ['fly', 'stopped', null, { app: 'src-proj', token: 'FlyV1 deploy-token', expiresAt: 1_700_000_000_000 }]);
    const token = await call('POST', '/api/compute/services/src/deploy-token', { ttlSeconds: 600 });
    assert.equal(token.statusCode, 200);
    assert.equal(token.json().app, 'src-proj');
    const launched = await call('PATCH', '/api/compute/services/src', { image: 'registry.fly.io/src-proj:deployment-1' });
    assert.deepEqual([launched.json().desiredState, launched.json().image, launched.json().port], ['running', 'registry.fly.io/src-proj:deployment-1', 3000]);
    const wrongProvider = await call('POST', '/api/compute/services/web/deploy-token');
    assert.equal(wrongProvider.statusCode, 400);
  });

  test('stop and start keep the row; DELETE returns the audit snapshot (202)', async () => {
    const stopped = await call('POST', '/api/compute/services/web/stop');
    assert.equal(stopped.statusCode, 200);
    assert.equal(stopped.json().desiredState, 'stopped');
    assert.equal((await call('POST', '/api/compute/services/web/start')).json().desiredState, 'running');
    const del = await call('DELETE', '/api/compute/services/web');
    assert.equal(del.statusCode, 202);
    const snap = del.json().deleted;
    assert.deepEqual({ ...snap, id: undefined }, { id: undefined, name: 'web', provider: 'agent', image: 'nginx:1.28', generation: 4, source: 'api', envKeys: ['B', 'C'], url: null, instances: [] });
    assert.equal(h.store.services.get('web')!.deleting, true);
    // Until the loop has torn it down, the service reads as destroying and refuses changes.
    const during = await call('GET', '/api/compute/services/web');
    assert.deepEqual([during.statusCode, during.json().status], [200, 'destroying']);
    assert.equal((await call('DELETE', '/api/compute/services/web')).statusCode, 409);
    const audit = h.store.audit.list({ target: 'web' }).map((a) => [a.actor, a.action]);
    assert.deepEqual(audit.slice(0, 3), [['key:test', 'service.delete'], ['key:test', 'service.start'], ['key:test', 'service.stop']]);
  });

  test('events, logs (app output only: events are not repeated there) and config', async () => {
    h.store.events.append('src', { type: 'Normal', reason: 'Created', message: 'machine m1' });
    const events = await call('GET', '/api/compute/services/src/events?limit=5');
    assert.equal(events.statusCode, 200);
    assert.deepEqual(events.json().map((e: { reason: string }) => e.reason), ['Created']);
    assert.equal((await call('GET', '/api/compute/services/src/events?limit=0')).statusCode, 400);
    const logs = await call('GET', '/api/compute/services/src/logs');
    assert.equal(logs.headers['content-type'], 'text/plain; charset=utf-8');
    assert.equal(logs.body, '');
    const sse = await h.app.inject({ method: 'GET', url: '/api/compute/services/src/logs', headers: { ...h.auth(), accept: 'text/event-stream' } });
    assert.equal(sse.headers['content-type'], 'text/event-stream; charset=utf-8');
    assert.equal(sse.body, 'event: end\ndata: \n\n');
    const config = await call('GET', '/api/compute/config');
    assert.deepEqual(config.json().providers.cloud, { configured: false, reason: 'PROJECT_ID and CLOUD_API_HOST are not set' });
  });
});

describe('logs with a log source, and source deploys without fly', () => {
  test('follow streams the source as SSE; without deployToken → 503', async () => {
    const h = await apiHarness({
      logs: async function* (name, options) {
        yield `${name} line 1 follow=${options.follow}`;
        yield 'two\nparts';
      },
    });
    try {
      await h.app.inject({ method: 'POST', url: '/api/compute/services', headers: h.auth(), payload: { name: 'api', image: 'a' } });
      const res = await h.app.inject({ method: 'GET', url: '/api/compute/services/api/logs?follow=true', headers: h.auth() });
      assert.equal(res.body, 'data: api line 1 follow=true\n\ndata: two\ndata: parts\n\nevent: end\ndata: \n\n');
      const noFly = await h.app.inject({ method: 'POST', url: '/api/compute/services/deploy', headers: h.auth(), payload: { name: 'src' } });
      assert.equal(noFly.statusCode, 503);
      assert.equal(noFly.json().error, 'COMPUTE_NOT_CONFIGURED');
      assert.equal(h.store.services.get('src'), null);
    } finally {
      await h.close();
    }
  });
});

describe('deploy tokens follow a capability, not a provider name', () => {
  test('registryPerService decides: a fly service without it gets no token and no flyAppId; an agent service with it does', async () => {
    const h = await apiHarness({
      deployToken: async (name) => ({ app: `${name}-proj`, token: 'FlyV1 deploy-token', expiresAt: 1_700_000_000_000 }),
      flyAppName: (name) => `${name}-proj`,
      capabilities: (name) => ({ updateInPlace: true, registryPerService: name === 'agent' }),
    });
    const call = (method: 'GET' | 'POST', url: string, payload?: object) =>
      h.app.inject({ method, url, headers: h.auth(), ...(payload ? { payload } : {}) });
    try {
      await call('POST', '/api/compute/services', { name: 'onfly', image: 'nginx:1.27', provider: 'fly' });
      await call('POST', '/api/compute/services', { name: 'onagent', image: 'nginx:1.27', provider: 'agent' });
      const refused = await call('POST', '/api/compute/services/onfly/deploy-token');
      assert.equal(refused.statusCode, 400);
      assert.equal(refused.json().error, 'E_BAD_REQUEST');
      assert.equal((await call('GET', '/api/compute/services/onfly')).json().flyAppId, null);
      const minted = await call('POST', '/api/compute/services/onagent/deploy-token');
      assert.equal(minted.statusCode, 200);
      assert.equal(minted.json().app, 'onagent-proj');
      assert.equal((await call('GET', '/api/compute/services/onagent')).json().flyAppId, 'onagent-proj');
    } finally {
      await h.close();
    }
  });
});

test('a PATCH keeps health.grace: the stored spec round-trips through its raw form', async () => {
  const { rawFromSpec, specFromRaw } = await import('../../api/service-spec.ts');
  const spec = specFromRaw({ name: 'slow', image: 'x', health: { path: '/up', grace: '3m' } });
  assert.equal(spec.health.graceMs, 180_000);
  assert.deepEqual(specFromRaw(rawFromSpec(spec)), spec);
});
