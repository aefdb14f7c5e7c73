// Shipped output end to end through the control plane's HTTP surface: an agent posts
// lines over the agent protocol, the store keeps them, GET …/:id/logs serves them
// (tail, since, instance, build, JSON) and follows them over SSE.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { agentRoutes } from '../../api/agent-routes.ts';
import type { ShippedLine } from '../../schemas/agent-protocol.ts';
import { apiHarness, type ApiHarness } from './helpers.ts';

const REG = 'logs-registration-token';
const capacity = { cpus: 2, memoryBytes: 2 * 1024 ** 3 };

describe('logs over the API', () => {
  let h: ApiHarness;
  let agents: FastifyInstance;
  let agent: { id: string; token: string };
  const T = Date.now() - 60 * 60_000;

  before(async () => {
    h = await apiHarness();
    agents = Fastify();
    await agents.register(agentRoutes({ store: h.store, registrationTokens: [REG], secretsFor: () => ({}) }));
    await agents.ready();
    const created = await h.app.inject({ method: 'POST', url: '/api/compute/services', headers: h.auth(), payload: { name: 'web', image: 'a' } });
    assert.equal(created.statusCode, 201);
    agent = await register();
    for (const instanceId of ['inst_a', 'inst_b']) {
      h.store.tasks.enqueue({ kind: 'run', service: 'web', generation: 1, replica: 0, agentId: agent.id, payload: { instanceId } });
    }
  });
  after(async () => {
    await agents?.close();
    await h?.close();
  });

  /** A new agent with the registration token; an existing one registers again with its own credential. */
  async function register(again?: { id: string; token: string }): Promise<{ id: string; token: string }> {
    const id = again?.id;
    const res = await agents.inject({
      method: 'POST', url: '/api/agents/register', headers: { authorization: `Bearer ${again?.token ?? REG}` },
      payload: { name: 'a1', capacity, ...(id ? { id } : {}) },
    });
    assert.equal(res.statusCode, 201);
    return res.json() as { id: string; token: string };
  }
  const ship = (lines: ShippedLine[], who = agent) => agents.inject({
    method: 'POST', url: `/api/agents/${who.id}/logs`, headers: { authorization: `Bearer ${who.token}` }, payload: { lines },
  });
  const get = (query = '', headers: Record<string, string> = {}) =>
    h.app.inject({ method: 'GET', url: `/api/compute/services/web/logs${query}`, headers: { ...h.auth(), ...headers } });
  const app = (instance: string, line: string, minutes: number, stream: 'stdout' | 'stderr' = 'stdout'): ShippedLine =>
    ({ instance, stream, time: T + minutes * 60_000, line });

  test('ship → store → API: tail, since, instance filter, build output apart', async () => {
    const shipped = await ship([
      { instance: 'inst_a', build: 'build_1', stream: 'stdout', time: T, line: 'npm ci: added 57 packages' },
      app('inst_a', 'listening on 8080', 1), app('inst_b', 'DATABASE_URL is not set', 2, 'stderr'), app('inst_a', 'GET / 200', 50),
    ]);
    assert.equal(shipped.statusCode, 200);
    assert.deepEqual(shipped.json(), { ok: true, stored: 4 });

    const all = await get();
    assert.equal(all.statusCode, 200);
    assert.equal(all.headers['content-type'], 'text/plain; charset=utf-8');
    const iso = (minutes: number) => new Date(T + minutes * 60_000).toISOString();
    assert.equal(all.body, [
      `${iso(1)} inst_a stdout listening on 8080`, `${iso(2)} inst_b stderr DATABASE_URL is not set`, `${iso(50)} inst_a stdout GET / 200`, '',
    ].join('\n'));
    assert.equal((await get('?tail=1')).body, `${iso(50)} inst_a stdout GET / 200\n`);
    assert.equal((await get('?since=30m')).body, `${iso(50)} inst_a stdout GET / 200\n`);
    assert.equal((await get(`?since=${encodeURIComponent(iso(2))}&tail=5`)).body.split('\n').length, 3);
    assert.equal((await get('?instance=inst_b')).body, `${iso(2)} inst_b stderr DATABASE_URL is not set\n`);
    assert.equal((await get('?build=1')).body, `${iso(0)} build_1 stdout npm ci: added 57 packages\n`);
    const json = await get('?instance=inst_b', { accept: 'application/json' });
    assert.deepEqual(json.json().lines.map((l: { line: string; stream: string }) => [l.stream, l.line]), [['stderr', 'DATABASE_URL is not set']]);

    assert.equal((await get('?since=yesterday')).statusCode, 400);
    assert.equal((await get('?tail=0')).statusCode, 400);
    assert.equal((await h.app.inject({ method: 'GET', url: '/api/compute/services/web/logs' })).statusCode, 401);
    assert.equal((await h.app.inject({ method: 'GET', url: '/api/compute/services/nope/logs', headers: h.auth() })).statusCode, 404);
  });

  test('an agent cannot write into the logs of an instance it was never given', async () => {
    const res = await ship([app('inst_elsewhere', 'forged line', 3)]);
    assert.equal(res.statusCode, 403);
    assert.equal(res.json().error, 'E_FORBIDDEN');
    const other = await register();
    assert.equal((await ship([app('inst_a', 'forged line', 3)], other)).statusCode, 403);
    assert.equal((await ship([app('inst_a', 'x', 3)], { id: agent.id, token: 'not-a-token' })).statusCode, 401);
    assert.doesNotMatch((await get('?tail=100')).body, /forged/);
  });

  test('SSE follow receives a line shipped after the request started', async () => {
    const base = await h.app.listen({ host: '127.0.0.1', port: 0 });
    const abort = new AbortController();
    try {
      const res = await fetch(`${base}/api/compute/services/web/logs?follow=1&tail=1&instance=inst_a`, {
        headers: { ...h.auth(), accept: 'text/event-stream' }, signal: abort.signal,
      });
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
      const reader = res.body!.getReader();
      const decoder = new TextDecoder();
      let text = '';
      const readUntil = async (needle: string) => {
        const deadline = Date.now() + 10_000;
        while (!text.includes(needle)) {
          if (Date.now() > deadline) throw new Error(`no ${needle} in ${text}`);
          const { done, value } = await reader.read();
          if (done) throw new Error(`stream ended before ${needle}: ${text}`);
          text += decoder.decode(value, { stream: true });
        }
      };
      await readUntil('GET / 200');
      assert.match(text, /^id: \d+\ndata: \S+ inst_a stdout GET \/ 200\n\n/);
      assert.equal((await ship([app('inst_a', 'printed after the request started', 51)])).statusCode, 200);
      await readUntil('printed after the request started');
      assert.match(text, /data: \S+ inst_a stdout printed after the request started\n\n/);
      assert.doesNotMatch(text, /inst_b/);
    } finally {
      abort.abort();
    }
  });

  test('a stream resumes after Last-Event-ID', async () => {
    const all = h.store.logs.list('web', { tail: 1_000 });
    const last = all.at(-1)!;
    const before = all.at(-2)!;
    const res = await get('', { accept: 'text/event-stream', 'last-event-id': String(before.seq) });
    assert.equal(res.body, `id: ${last.seq}\ndata: ${new Date(last.timeMs).toISOString()} ${last.instance} ${last.stream} ${last.line}\n\nevent: end\ndata: \n\n`);
  });

  test('an agent that restarts (registers again) keeps what it shipped, and ships on', async () => {
    const before = (await get('?tail=1000')).body;
    const again = await register(agent);
    assert.equal(again.id, agent.id);
    assert.equal((await get('?tail=1000')).body, before);
    assert.equal((await ship([app('inst_a', 'after the restart', 52)], again)).statusCode, 200);
    assert.match((await get('?tail=1')).body, /after the restart\n$/);
    agent = again;
  });
});
