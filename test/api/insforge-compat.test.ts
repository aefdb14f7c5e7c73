// Issue 23: InsForge's own CLI drives Forge unchanged. Every compute route is called
// with that client's request shapes (Bearer ik_ key, Content-Type: application/json
// also on empty bodies, imageUrl, never provider) against the real Fly provider and
// the Fly fake, and every answer is checked for the shape that client reads.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { SignJWT } from 'jose';
import { apiError } from '../../cli/client.ts';
import { assertNoContractViolations } from '../fakes/fly.ts';
import { JWT_SECRET } from './helpers.ts';
import { startCompatServer, type CompatServer } from './insforge-compat-helpers.ts';

type Json = Record<string, unknown>;

/** The fields InsForge's CLI reads from a service object. */
const INSFORGE_FIELDS = ['id', 'name', 'status', 'imageUrl', 'endpointUrl', 'protocol', 'port', 'cpu', 'memory', 'region', 'createdAt', 'flyAppId', 'flyMachineId'];
/** Forge's own fields, kept beside them. */
const FORGE_FIELDS = ['provider', 'conditions', 'instances', 'envKeys', 'generation', 'observedGeneration', 'desiredState', 'url', 'image'];

function assertServiceShape(service: unknown): Json {
  assert.ok(service !== null && typeof service === 'object' && !Array.isArray(service), `a service object: ${JSON.stringify(service)}`);
  const s = service as Json;
  for (const field of [...INSFORGE_FIELDS, ...FORGE_FIELDS]) assert.ok(Object.hasOwn(s, field), `service object lacks ${field}`);
  assert.equal(typeof s['id'], 'string');
  assert.equal(s['protocol'], 'http');
  assert.equal(typeof s['createdAt'], 'string');
  assert.ok(!Number.isNaN(Date.parse(s['createdAt'] as string)));
  return s;
}

describe('InsForge CLI contract (issue 23)', () => {
  let srv: CompatServer;
  before(async () => { srv = await startCompatServer(); });
  after(async () => {
    assertNoContractViolations(srv.fly.fake);
    await srv.close();
  });

  test('auth: Authorization: Bearer ik_… is an API key; a wrong one is 401; x-api-key and admin JWTs keep working', async () => {
    const list = await srv.insforge('/api/compute/services');
    assert.deepEqual(list, { status: 200, json: [] });
    const wrong = await srv.insforge('/api/compute/services', { headers: { Authorization: `Bearer ik_${'0'.repeat(64)}` } });
    assert.deepEqual([wrong.status, (wrong.json as Json)['error']], [401, 'E_UNAUTHORIZED']);
    const viaHeader = await fetch(`${srv.url}/api/compute/services`, { headers: { 'x-api-key': srv.key } });
    assert.equal(viaHeader.status, 200);
    const jwt = await new SignJWT({ role: 'admin' }).setProtectedHeader({ alg: 'HS256' }).setSubject('ci').setExpirationTime('5m').sign(JWT_SECRET);
    const viaJwt = await fetch(`${srv.url}/api/compute/services`, { headers: { authorization: `Bearer ${jwt}` } });
    assert.equal(viaJwt.status, 200);
  });

  test('an empty JSON body is {}: POST /services without a body says name is missing, never FST_ERR_CTP_EMPTY_JSON_BODY', async () => {
    const res = await srv.insforge('/api/compute/services', { method: 'POST' });
    assert.equal(res.status, 400);
    assert.equal((res.json as Json)['error'], 'E_BAD_REQUEST');
    assert.match(String((res.json as Json)['message']), /name/);
    assert.doesNotMatch(JSON.stringify(res.json), /FST_ERR_CTP_EMPTY_JSON_BODY/);
  });

  test('compute deploy --image (no provider): list → POST imageUrl → Fly; get, list, update, stop, start, events, delete in InsForge shapes', async () => {
    // deploy --image: list, find by name (absent), POST with imageUrl and no provider.
    const listed = await srv.insforge('/api/compute/services');
    assert.ok(Array.isArray(listed.json));
    assert.equal((listed.json as Json[]).find((s) => s['name'] === 'web'), undefined);
    const created = await srv.insforge('/api/compute/services', {
      method: 'POST', body: { name: 'web', imageUrl: 'nginx:1.27', port: 8080, cpu: 'shared-1x', memory: 512, region: 'iad' },
    });
    assert.equal(created.status, 201);
    const service = assertServiceShape(created.json);
    assert.deepEqual(
      [service['name'], service['imageUrl'], service['port'], service['cpu'], service['memory'], service['region'], service['provider'], service['flyAppId']],
      ['web', 'nginx:1.27', 8080, 'shared-1x', 512, 'iad', 'fly', 'web-p1'],
    );
    const id = service['id'] as string;

    await srv.fly.converge();
    const [machine] = srv.fly.fake.liveMachines('web-p1');
    assert.ok(machine, 'a machine runs in the service\'s Fly app');
    const got = await srv.insforge(`/api/compute/services/${id}`);
    assert.equal(got.status, 200);
    const running = assertServiceShape(got.json);
    assert.deepEqual(
      [running['status'], running['imageUrl'], running['endpointUrl'], running['flyAppId'], running['flyMachineId']],
      ['running', 'nginx:1.27', 'https://web-p1.fly.dev', 'web-p1', machine.id],
    );
    assert.equal((running['instances'] as Json[]).length, 1);

    // list is a bare array of the same objects (the CLI calls .find on it).
    const all = await srv.insforge('/api/compute/services');
    assert.ok(Array.isArray(all.json));
    const found = (all.json as Json[]).find((s) => s['name'] === 'web');
    assert.equal(assertServiceShape(found)['flyMachineId'], machine.id);

    // deploy --image again finds it and PATCHes the same body without name; update --image sends imageUrl alone.
    const redeploy = await srv.insforge(`/api/compute/services/${id}`, {
      method: 'PATCH', body: { imageUrl: 'nginx:1.28', port: 8080, cpu: 'shared-1x', memory: 512, region: 'iad' },
    });
    assert.equal(redeploy.status, 200);
    assert.equal(assertServiceShape(redeploy.json)['imageUrl'], 'nginx:1.28');
    const update = await srv.insforge(`/api/compute/services/${id}`, { method: 'PATCH', body: { imageUrl: 'nginx:1.29' } });
    assert.deepEqual([update.status, (update.json as Json)['imageUrl']], [200, 'nginx:1.29']);
    await srv.fly.converge();
    assert.equal(srv.fly.fake.liveMachines('web-p1')[0]?.config['image'], 'nginx:1.29');

    // A region change fails at once with InsForge's code, and nothing is written.
    const generation = srv.fly.store.services.get('web')!.generation;
    const moved = await srv.insforge(`/api/compute/services/${id}`, { method: 'PATCH', body: { region: 'sjc' } });
    assert.deepEqual([moved.status, (moved.json as Json)['error']], [400, 'COMPUTE_REGION_CHANGE_NOT_SUPPORTED']);
    assert.equal(srv.fly.store.services.get('web')!.generation, generation);

    // stop / start: POST with Content-Type: application/json and no body.
    const stopped = await srv.insforge(`/api/compute/services/${id}/stop`, { method: 'POST' });
    assert.deepEqual([stopped.status, assertServiceShape(stopped.json)['desiredState']], [200, 'stopped']);
    const started = await srv.insforge(`/api/compute/services/${id}/start`, { method: 'POST' });
    assert.deepEqual([started.status, assertServiceShape(started.json)['desiredState']], [200, 'running']);

    // events --limit 50: a bare array of { timestamp (epoch ms), message }, Forge's fields kept.
    const events = await srv.insforge(`/api/compute/services/${id}/events?limit=50`);
    assert.equal(events.status, 200);
    assert.ok(Array.isArray(events.json) && events.json.length > 0, JSON.stringify(events.json));
    for (const e of events.json as Json[]) {
      assert.equal(typeof e['timestamp'], 'number');
      assert.equal(e['timestamp'], Date.parse(e['time'] as string));
      assert.equal(typeof e['message'], 'string');
      assert.ok(typeof e['reason'] === 'string' && typeof e['type'] === 'string');
    }
    const limited = await srv.insforge(`/api/compute/services/${id}/events?limit=1`);
    assert.equal((limited.json as Json[]).length, 1);

    // delete: Content-Type: application/json, no body; answers { message: "Service deleted" }.
    const deleted = await srv.insforge(`/api/compute/services/${id}`, { method: 'DELETE' });
    assert.ok(deleted.status >= 200 && deleted.status < 300, String(deleted.status));
    assert.equal((deleted.json as Json)['message'], 'Service deleted');
    assert.equal(((deleted.json as Json)['deleted'] as Json)['name'], 'web');
    await srv.fly.converge();
    assert.deepEqual(srv.fly.fake.liveMachines('web-p1'), []);
    assert.deepEqual((await srv.insforge('/api/compute/services')).json, []);
  });

  test('compute deploy DIR (source mode): /deploy → /deploy-token → push to registry.fly.io/<flyAppId> → PATCH imageUrl runs it; another app\'s image is refused', async () => {
    const base = { name: 'api', port: 3000, cpu: 'shared-1x', memory: 512, region: 'iad' };
    const prepared = await srv.insforge('/api/compute/services/deploy', { method: 'POST', body: base });
    assert.equal(prepared.status, 201);
    const service = assertServiceShape(prepared.json);
    assert.equal(service['flyAppId'], 'api-p1');
    assert.ok(srv.fly.fake.world.apps.has('api-p1'), 'the Fly app exists before the build is pushed');

    const token = await srv.insforge(`/api/compute/services/${service['id'] as string}/deploy-token`, { method: 'POST' });
    assert.equal(token.status, 200);
    const { token: value, expirySeconds } = token.json as { token: string; expirySeconds: number };
    assert.equal(typeof value, 'string');
    assert.ok(expirySeconds > 0 && expirySeconds <= 3600, String(expirySeconds));
    assert.ok(srv.fly.fake.world.apps.get('api-p1')!.deployTokens.some((t) => t.token === value), 'a token scoped to the service\'s app');

    // The build pushed registry.fly.io/<flyAppId>:<tag>; a client that lost the app id would send `undefined`.
    const generation = srv.fly.store.services.get('api')!.generation;
    const foreign = await srv.insforge(`/api/compute/services/${service['id'] as string}`, {
      method: 'PATCH', body: { imageUrl: 'registry.fly.io/undefined@sha256:' + 'a'.repeat(64), port: 3000 },
    });
    assert.equal(foreign.status, 400);
    assert.equal((foreign.json as Json)['error'], 'E_BAD_REQUEST');
    assert.match(String((foreign.json as Json)['message']), /registry\.fly\.io\/api-p1/);
    assert.deepEqual((foreign.json as Json)['details'], [{ path: 'imageUrl', message: 'names Fly app "undefined", not api-p1' }]);
    assert.equal(srv.fly.store.services.get('api')!.generation, generation, 'nothing written');

    const image = 'registry.fly.io/api-p1:cli-1700000000000';
    const launched = await srv.insforge(`/api/compute/services/${service['id'] as string}`, {
      method: 'PATCH', body: { imageUrl: image, ...base, name: undefined },
    });
    assert.equal(launched.status, 200, JSON.stringify(launched.json));
    assert.deepEqual([(launched.json as Json)['imageUrl'], (launched.json as Json)['desiredState']], [image, 'running']);
    await srv.fly.converge();
    const [machine] = srv.fly.fake.liveMachines('api-p1');
    assert.equal(machine?.config['image'], image);
    const got = assertServiceShape((await srv.insforge('/api/compute/services/api')).json);
    assert.deepEqual([got['status'], got['flyMachineId'], got['endpointUrl']], ['running', machine!.id, 'https://api-p1.fly.dev']);
  });

  test('scaleToZero is the spec\'s autoStop (Fly auto-stop); protocol http is accepted; protocol tcp is a clear 400, not an unknown key', async () => {
    const zero = await srv.insforge('/api/compute/services', {
      method: 'POST', body: { name: 'idle', imageUrl: 'nginx:1.27', port: 8080, scaleToZero: true, protocol: 'http' },
    });
    assert.equal(zero.status, 201, JSON.stringify(zero.json));
    assert.equal((zero.json as Json)['scaleToZero'], true);
    assert.equal(srv.fly.store.services.get('idle')!.spec.autoStop, true);
    await srv.fly.converge();
    const services = srv.fly.fake.liveMachines('idle-p1')[0]?.config['services'] as { autostop?: unknown }[] | undefined;
    assert.equal(services?.[0]?.autostop, 'stop');

    const tcp = await srv.insforge('/api/compute/services', { method: 'POST', body: { name: 'db', imageUrl: 'postgres:16', port: 5432, protocol: 'tcp' } });
    assert.equal(tcp.status, 400);
    const body = tcp.json as Json;
    assert.equal(body['error'], 'E_BAD_REQUEST');
    assert.match(String(body['message']), /^protocol tcp is not supported: .*layer-4 module.*Debian's build/);
    assert.deepEqual(body['details'], [{ path: 'protocol', message: 'only http is supported' }]);
    assert.equal(srv.fly.store.services.get('db'), null);
  });

  test('POST /api/usage/mcp (sent after every command) is accepted and dropped', async () => {
    const res = await srv.insforge('/api/usage/mcp', { method: 'POST', body: { tool_name: 'cli.compute.list', success: true, timestamp: new Date().toISOString() } });
    assert.equal(res.status, 204);
    const viaHeader = await fetch(`${srv.url}/api/usage/mcp`, {
      method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': srv.key }, body: '{"tool_name":"x","success":false}',
    });
    assert.equal(viaHeader.status, 204);
    assert.equal((await fetch(`${srv.url}/api/usage/mcp`, { method: 'POST' })).status, 401, 'still behind the API key');
  });

  test('Forge\'s own CLI reads InsForge\'s region code as E_REGION_IMMUTABLE', () => {
    assert.equal(apiError(400, { error: 'COMPUTE_REGION_CHANGE_NOT_SUPPORTED', message: 'm' }).code, 'E_REGION_IMMUTABLE');
  });
});
