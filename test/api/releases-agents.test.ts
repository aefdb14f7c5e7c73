// GET /api/compute/services/:id/releases and GET /api/agents (issue 17.2).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { apiHarness, type ApiHarness } from './helpers.ts';
import { eventually } from '../helpers/net.ts';

describe('releases and agents routes', () => {
  let h: ApiHarness;
  before(async () => {
    h = await apiHarness({ withLoop: true });
  });
  after(() => h.close());
  const get = async (url: string, auth = true) => h.app.inject({ method: 'GET', url, headers: auth ? h.auth() : {} });

  test('releases: newest first, numbered, good/pending, current marked; no spec or env in the answer', async () => {
    const create = await h.app.inject({ method: 'POST', url: '/api/compute/services', headers: h.auth(), payload: { name: 'web', image: 'nginx:1', port: 80, envVars: { TOKEN: 'release-canary' } } });
    assert.equal(create.statusCode, 201, create.body);
    await eventually('release 1 good', 10_000, async () => (await get('/api/compute/services/web/releases')).json().releases[0]?.status === 'good');
    await h.app.inject({ method: 'PATCH', url: '/api/compute/services/web', headers: h.auth(), payload: { image: 'nginx:2' } });
    const body = await eventually('release 2 recorded', 10_000, async () => {
      const json = (await get('/api/compute/services/web/releases')).json() as { releases: { generation: number; status: string }[] };
      return json.releases.length === 2 && json.releases[0]!.status === 'good' ? json : undefined;
    });
    const reply = await get('/api/compute/services/web/releases');
    assert.ok(!reply.body.includes('release-canary'), 'a secret value in the releases answer');
    const releases = (body as { releases: Record<string, unknown>[] }).releases;
    assert.deepEqual(releases.map((r) => [r.number, r.generation, r.revision, r.status, r.current, r.cause]), [[2, 2, 'nginx:2', 'good', true, null], [1, 1, 'nginx:1', 'good', false, null]]);
    assert.deepEqual(Object.keys(releases[0]!).sort(), ['cause', 'createdAt', 'current', 'generation', 'hash', 'number', 'revision', 'status']);
    assert.equal((await get('/api/compute/services/nope/releases')).statusCode, 404);
    assert.equal((await get('/api/compute/services/web/releases', false)).statusCode, 401);
  });

  test('agents: id, name, address, online, capacity, usage, instances, runtimes; never a token hash', async () => {
    const agent = h.store.agents.register({
      name: 'node-1', tokenHash: 'secret-token-hash', addresses: ['10.0.0.3'], labels: {},
      capacity: { cpus: 4, memoryBytes: 8 * 2 ** 30 },
      runtimes: [{ name: 'python', version: '3.11.7', path: '/usr/bin/python3' }, { name: 'node', version: '20.11.1', path: '/usr/bin/node' }],
    });
    h.store.agents.heartbeat(agent.id, {
      usage: { cpus: 1.5, memoryBytes: 2 ** 30 },
      instances: [{ id: 'i1', service: 'web', state: 'running', env: { X: 'instance-canary' } }, { id: 'i2', service: 'api', state: 'stopped' }],
    }, Date.now());
    const reply = await get('/api/v1/agents');
    assert.equal(reply.statusCode, 200);
    assert.ok(!reply.body.includes('secret-token-hash') && !reply.body.includes('instance-canary'));
    const { agents } = reply.json() as { agents: Record<string, unknown>[] };
    const listed = agents.find((a) => a.id === agent.id)!;
    assert.deepEqual(
      [listed.name, listed.address, listed.online, listed.capacity, listed.usage, listed.instances, listed.runtimes],
      ['node-1', '10.0.0.3', true, { cpus: 4, memoryBytes: 8 * 2 ** 30 }, { cpus: 1.5, memoryBytes: 2 ** 30, imageBytes: null },
        { count: 2, running: 1, services: ['api', 'web'] }, ['python 3.11.7', 'node 20.11.1']],
    );
    assert.equal((await get('/api/v1/agents', false)).statusCode, 401);
  });
});
