// The agent protocol routes on a bare fastify instance (inject): auth, heartbeats,
// exclusive claim leases, re-handed expired leases, long-poll wake-ups, progress
// and results.

import assert from 'node:assert/strict';
import { after, beforeEach, describe, test } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { agentRoutes } from '../../api/agent-routes.ts';
import { revokeAgent } from '../../api/routes/agents.ts';
import { createTaskBell } from '../../providers/agent/bell.ts';
import type { AgentHub } from '../../providers/agent/hub.ts';
import { hashToken } from '../../providers/agent/tokens.ts';
import { tempStore, T0, type TempStore } from '../store/helpers.ts';

const REG = 'registration-secret';
const LEASE = 10_000;
const capacity = { cpus: 2, memoryBytes: 2 * 1024 ** 3 };

let ts: TempStore;
let app: FastifyInstance;
const bell = createTaskBell();
const seen: string[] = [];
let secretsFor: (name: string) => Record<string, string> = () => ({});
const open: Array<() => void> = [];

const hub: AgentHub = {
  heartbeatReceived: (id) => void seen.push(`heartbeat ${id}`),
  agentRegistered: (id) => void seen.push(`registered ${id}`),
  taskClaimed: (task) => void seen.push(`claimed ${task.id}`),
  taskCompleted: (task, ok) => void seen.push(`completed ${task.id} ${ok}`),
  waitForTask: (agentId, ms, signal) => bell.wait(agentId, ms, signal),
};

beforeEach(async () => {
  for (const close of open.splice(0)) close();
  ts = tempStore();
  seen.length = 0;
  secretsFor = () => ({});
  app = Fastify();
  await app.register(agentRoutes({
    store: ts.store, hub, now: () => ts.clock.now, registrationTokens: [REG], leaseMs: LEASE,
    secretsFor: (name) => secretsFor(name), heartbeatIntervalMs: 200, claimPollMs: 50,
  }));
  app.get('/api/other', async () => ({ other: true }));
  await app.ready();
  const current = { app, ts };
  open.push(() => { void current.app.close(); current.ts.cleanup(); });
});
after(() => { for (const close of open.splice(0)) close(); });

async function register(name: string, token = REG) {
  return app.inject({ method: 'POST', url: '/api/agents/register', headers: { authorization: `Bearer ${token}` }, payload: { name, capacity } });
}
async function agent(name: string): Promise<{ id: string; token: string }> {
  const res = await register(name);
  assert.equal(res.statusCode, 201);
  return res.json() as { id: string; token: string };
}
function post(url: string, token: string, payload: unknown = {}) {
  return app.inject({ method: 'POST', url, headers: { authorization: `Bearer ${token}` }, payload: payload as object });
}
const heartbeat = (id: string, token: string, instances: unknown[] = []) =>
  post(`/api/agents/${id}/heartbeat`, token, { capacity, usage: { cpus: 0.5, memoryBytes: 1024 }, processes: 3, instances, time: T0 });
const claim = (id: string, token: string, waitMs = 0) => post(`/api/agents/${id}/tasks/claim`, token, { waitMs });
const enqueue = (agentId: string | null, kind: 'run' | 'stop' = 'stop', service = 'web') =>
  ts.store.tasks.enqueue({ kind, service, generation: 1, replica: 0, agentId, payload: { instanceId: 'inst_1', remove: true } });

describe('registration and auth', () => {
  test('register needs a registration token and returns an id and a secret stored only as a hash', async () => {
    assert.equal((await app.inject({ method: 'POST', url: '/api/agents/register', payload: { name: 'a', capacity } })).statusCode, 401);
    const wrong = await register('a', 'nope');
    assert.equal(wrong.statusCode, 401);
    assert.equal(wrong.json().error, 'E_UNAUTHORIZED');
    const { id, token } = await agent('a');
    assert.match(id, /^agt_/);
    assert.match(token, /^fat_[A-Za-z0-9_-]{43}$/);
    const row = ts.store.agents.get(id)!;
    assert.equal(row.tokenHash, hashToken(token));
    assert.equal(JSON.stringify(row).includes(token), false);
    assert.deepEqual(seen, [`registered ${id}`]);
  });

  test('re-registering with its own credential keeps the id and the credential', async () => {
    const first = await agent('a');
    const res = await app.inject({
      method: 'POST', url: '/api/agents/register', headers: { authorization: `Bearer ${first.token}` },
      payload: { name: 'a', id: first.id, capacity },
    });
    assert.equal(res.statusCode, 201);
    const second = res.json() as { id: string; token: string };
    assert.deepEqual([second.id, second.token], [first.id, first.token]);
    assert.equal((await heartbeat(first.id, first.token)).statusCode, 200);
  });

  test('a stolen registration token cannot take over an existing agent id or claim its tasks', async () => {
    const victim = await agent('a');
    const task = enqueue(victim.id, 'run', 'web');
    secretsFor = () => ({ DB_PASSWORD: 'hunter2' });
    const takeover = await app.inject({
      method: 'POST', url: '/api/agents/register', headers: { authorization: `Bearer ${REG}` },
      payload: { name: 'evil', id: victim.id, capacity },
    });
    assert.equal(takeover.statusCode, 403);
    assert.deepEqual(takeover.json(), {
      error: 'E_FORBIDDEN',
      message: `agent ${victim.id} is already registered: registering it again needs its own credential, not a registration token`,
    });
    // The real agent is untouched and still holds its work.
    assert.equal((await heartbeat(victim.id, victim.token)).statusCode, 200);
    assert.equal(ts.store.agents.get(victim.id)!.name, 'a');
    // A fresh registration gets a fresh id: it cannot reach the victim's tasks.
    const evil = await agent('evil');
    assert.notEqual(evil.id, victim.id);
    assert.equal((await claim(victim.id, evil.token)).statusCode, 403);
    assert.equal((await claim(evil.id, evil.token)).statusCode, 204);
    const mine = await claim(victim.id, victim.token);
    assert.equal(mine.statusCode, 200);
    assert.equal(mine.json().task.id, task.id);
  });

  test('a revoked agent can neither call nor register again; its claimed tasks are cancelled', async () => {
    const a = await agent('a');
    const task = enqueue(a.id, 'stop', 'web');
    assert.equal((await claim(a.id, a.token)).statusCode, 200);
    assert.equal(revokeAgent(ts.store, a.id), true);
    assert.equal(ts.store.tasks.get(task.id)!.state, 'cancelled');
    assert.equal(ts.store.agents.get(a.id)!.online, false);
    const hb = await heartbeat(a.id, a.token);
    assert.deepEqual([hb.statusCode, hb.json().message], [403, `agent ${a.id} was revoked`]);
    const again = await app.inject({
      method: 'POST', url: '/api/agents/register', headers: { authorization: `Bearer ${a.token}` },
      payload: { name: 'a', id: a.id, capacity },
    });
    assert.equal(again.statusCode, 403);
    const viaBootstrap = await app.inject({
      method: 'POST', url: '/api/agents/register', headers: { authorization: `Bearer ${REG}` },
      payload: { name: 'a', id: a.id, capacity },
    });
    assert.equal(viaBootstrap.statusCode, 403);
  });

  test('a registration replaces the instances last heard of with the ones it carries (none after an agent restart)', async () => {
    const first = await agent('a');
    const running = {
      id: 'inst_1', service: 'web', replica: 0, generation: 1, hash: 'h'.repeat(64), state: 'running',
      port: 20000, address: '127.0.0.1:20000', health: 'healthy',
    };
    assert.equal((await heartbeat(first.id, first.token, [running])).statusCode, 200);
    assert.deepEqual(ts.store.agents.get(first.id)!.instances.map((i) => (i as { id: string }).id), ['inst_1']);
    const again = await app.inject({
      method: 'POST', url: '/api/agents/register', headers: { authorization: `Bearer ${first.token}` },
      payload: { name: 'a', id: first.id, capacity, instances: [] },
    });
    assert.equal(again.statusCode, 201);
    assert.deepEqual(ts.store.agents.get(first.id)!.instances, []);
  });

  test('a registration cancels the tasks the agent had claimed (that work died with its last run); queued ones stay', async () => {
    const first = await agent('a');
    const claimed = enqueue(first.id, 'stop', 'web');
    assert.equal((await claim(first.id, first.token)).statusCode, 200);
    const queued = enqueue(first.id, 'stop', 'api');
    const again = await app.inject({
      method: 'POST', url: '/api/agents/register', headers: { authorization: `Bearer ${first.token}` },
      payload: { name: 'a', id: first.id, capacity, instances: [] },
    });
    assert.equal(again.statusCode, 201);
    assert.equal(ts.store.tasks.get(claimed.id)!.state, 'cancelled');
    assert.equal(ts.store.tasks.get(queued.id)!.state, 'queued');
  });

  test('agent tokens reach only their own agent routes; registration tokens reach only register', async () => {
    const a = await agent('a');
    const b = await agent('b');
    assert.equal((await heartbeat(a.id, b.token)).statusCode, 403);
    assert.equal((await heartbeat(a.id, REG)).statusCode, 401);
    assert.equal((await register('c', a.token)).statusCode, 403, 'an agent credential cannot register another agent');
    assert.equal((await claim(a.id, 'fat_forged')).statusCode, 401);
    // The plugin's hook is encapsulated: routes outside it neither require nor see agent auth.
    assert.deepEqual((await app.inject({ method: 'GET', url: '/api/other' })).json(), { other: true });
  });

  test('a heartbeat body that does not fit the schema is 400 naming the path', async () => {
    const a = await agent('a');
    const res = await post(`/api/agents/${a.id}/heartbeat`, a.token, { capacity, usage: { cpus: -1, memoryBytes: 0 }, processes: 0, instances: [], time: 0 });
    assert.equal(res.statusCode, 400);
    assert.deepEqual(res.json(), {
      error: 'E_BAD_REQUEST', message: 'invalid heartbeat body: /usage/cpus must be >= 0',
      details: { problems: ['/usage/cpus must be >= 0'] },
    });
  });
});

describe('heartbeats', () => {
  test('a heartbeat stores usage and instances and tells the hub', async () => {
    const a = await agent('a');
    ts.clock.now = T0 + 5_000;
    const instance = {
      id: 'inst_1', service: 'web', replica: 0, generation: 1, hash: 'h1', state: 'running', port: 20000,
      address: '127.0.0.1:20000', health: 'healthy',
    };
    const res = await heartbeat(a.id, a.token, [instance]);
    assert.deepEqual(res.json(), { ok: true, heartbeatIntervalMs: 200, term: 0 });
    const row = ts.store.agents.get(a.id)!;
    assert.deepEqual(row.instances, [instance]);
    assert.deepEqual(row.usage, { cpus: 0.5, memoryBytes: 1024, processes: 3, capacity, agentTime: T0 });
    assert.equal(row.lastSeenMs, T0 + 5_000);
    assert.deepEqual(seen.slice(1), [`heartbeat ${a.id}`]);
  });
});

describe('claims and leases', () => {
  test('a claimed task is exclusive; an expired lease is handed out again', async () => {
    const a = await agent('a');
    const b = await agent('b');
    const task = enqueue(null);
    const first = await claim(a.id, a.token);
    assert.equal(first.statusCode, 200);
    assert.equal(first.json().task.id, task.id);
    assert.equal(first.json().task.leaseExpiresAt, T0 + LEASE);
    assert.equal((await claim(b.id, b.token)).statusCode, 204);
    assert.equal((await claim(a.id, a.token)).statusCode, 204);

    ts.clock.now = T0 + LEASE; // a died: its lease runs out
    const second = await claim(b.id, b.token);
    assert.equal(second.statusCode, 200);
    assert.equal(second.json().task.id, task.id);
    assert.equal(second.json().task.attempts, 2);
    // a's late reports are refused: b holds the task now.
    const late = await post(`/api/agents/${a.id}/tasks/${task.id}/progress`, a.token, { lines: ['x'] });
    assert.equal(late.statusCode, 409);
    assert.equal((await post(`/api/agents/${a.id}/tasks/${task.id}/result`, a.token, { ok: true })).statusCode, 409);
  });

  test('a one-off (build task) whose holder lost its lease is never handed out again: it is reported as may have run', async () => {
    const a = await agent('a');
    const b = await agent('b');
    const task = ts.store.tasks.enqueue({ kind: 'build', service: 'web', generation: 1, replica: 0, agentId: null, payload: { instanceId: 'release-x-1', command: './migrate' } });
    assert.equal((await claim(a.id, a.token)).json().task.id, task.id);
    ts.clock.now = T0 + LEASE; // a died mid-run
    assert.equal((await claim(b.id, b.token)).statusCode, 204, 'the one-off was handed to a second agent');
    const done = ts.store.tasks.get(task.id)!;
    assert.equal(done.state, 'failed');
    assert.equal((done.result as { code: string }).code, 'E_MAY_HAVE_RUN');
    assert.ok(seen.includes(`completed ${task.id} false`));
  });

  test('a task targeted at one agent is never handed to another', async () => {
    const a = await agent('a');
    const b = await agent('b');
    enqueue(a.id);
    assert.equal((await claim(b.id, b.token)).statusCode, 204);
    assert.equal((await claim(a.id, a.token)).statusCode, 200);
  });

  test('a waiting claim answers when work is queued and the bell rings', async () => {
    const a = await agent('a');
    const pending = claim(a.id, a.token, 20_000);
    await new Promise((r) => setTimeout(r, 30));
    const task = enqueue(a.id);
    bell.ring(a.id);
    const res = await pending;
    assert.equal(res.statusCode, 200);
    assert.equal(res.json().task.id, task.id);
  });

  test('a claim answer carries the task\'s leader term and the one in the database now (fencing)', async () => {
    const a = await agent('a');
    ts.sql.prepare('UPDATE leader_term SET term = 3 WHERE id = 1').run();
    const task = enqueue(a.id);
    ts.sql.prepare('UPDATE leader_term SET term = 4 WHERE id = 1').run();
    const res = await claim(a.id, a.token);
    assert.deepEqual([res.json().task.id, res.json().task.term, res.json().term], [task.id, 3, 4]);
  });

  test('run tasks carry the service secrets in the claim response only', async () => {
    const a = await agent('a');
    secretsFor = (name): Record<string, string> => (name === 'web' ? { API_KEY: 's3cret' } : {});
    const task = enqueue(a.id, 'run');
    const res = await claim(a.id, a.token);
    assert.deepEqual(res.json().secrets, { API_KEY: 's3cret' });
    assert.equal(JSON.stringify(ts.store.tasks.get(task.id)).includes('s3cret'), false);
  });

  test('secrets that cannot be read fail the task instead of handing it out', async () => {
    const a = await agent('a');
    secretsFor = () => { throw new Error('bad key'); };
    const task = enqueue(a.id, 'run');
    assert.equal((await claim(a.id, a.token)).statusCode, 204);
    const row = ts.store.tasks.get(task.id)!;
    assert.equal(row.state, 'failed');
    assert.deepEqual(row.result, { code: 'E_SECRET_DECRYPT', message: 'secrets of web unavailable: bad key' });
  });

  test('progress renews the lease, marks the task running and keeps log lines; result completes it once', async () => {
    const a = await agent('a');
    const task = enqueue(a.id);
    await claim(a.id, a.token);
    ts.clock.now = T0 + 6_000;
    const progress = await post(`/api/agents/${a.id}/tasks/${task.id}/progress`, a.token, { lines: ['step 1', 'step 2'] });
    assert.deepEqual(progress.json(), { ok: true, leaseExpiresAt: T0 + 6_000 + LEASE });
    const running = ts.store.tasks.get(task.id)!;
    assert.equal(running.state, 'running');
    assert.equal(running.leaseExpiresAt, T0 + 6_000 + LEASE);
    assert.deepEqual(ts.store.tasks.logs(task.id).map((l) => l.line), ['step 1', 'step 2']);
    ts.clock.now = T0 + 12_000; // past the first lease, within the renewed one
    const b = await agent('b');
    assert.equal((await claim(b.id, b.token)).statusCode, 204);

    const done = await post(`/api/agents/${a.id}/tasks/${task.id}/result`, a.token, { ok: true, result: { message: 'stopped' } });
    assert.deepEqual(done.json(), { ok: true });
    assert.equal(ts.store.tasks.get(task.id)!.state, 'succeeded');
    assert.equal((await post(`/api/agents/${a.id}/tasks/${task.id}/result`, a.token, { ok: true })).statusCode, 409);
    assert.equal(seen.at(-1), `completed ${task.id} true`);
  });

  test('a run result\'s instance is stored with its agent (a leader on another replica reads it before the next heartbeat)', async () => {
    const a = await agent('a');
    const task = enqueue(a.id, 'run');
    await claim(a.id, a.token);
    const instance = {
      id: 'inst_1', service: 'web', replica: 0, generation: 1, hash: 'h1', state: 'running', port: 20000,
      address: '127.0.0.1:20000', health: 'healthy',
    };
    const done = await post(`/api/agents/${a.id}/tasks/${task.id}/result`, a.token, { ok: true, result: { instance } });
    assert.equal(done.statusCode, 200);
    assert.deepEqual(ts.store.agents.get(a.id)!.instances, [instance]);
  });

  test('an unknown task is 404', async () => {
    const a = await agent('a');
    const res = await post(`/api/agents/${a.id}/tasks/task_nope/progress`, a.token, { lines: [] });
    assert.equal(res.statusCode, 404);
    assert.equal(res.json().error, 'E_NOT_FOUND');
  });
});
