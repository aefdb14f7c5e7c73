// An agent given several control-plane URLs (`forge agent --server A,B`): its protocol
// client moves to the next replica when the one it talks to is unreachable, silent or
// answers 5xx, and stays on the one that works. The replicas here are two real agent
// protocol servers (api/agent-routes.ts) on one store, as two `forge server` replicas
// share one database; the broken ones are plain loopback HTTP servers.

import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { agentRoutes } from '../../api/agent-routes.ts';
import { createBundleStore } from '../../api/bundle-store.ts';
import { createProtocolClient } from '../../agent/protocol-client.ts';
import { packBundle } from '../../specs/bundle.ts';
import { openStore, type Store } from '../../store/index.ts';
import { freePort } from '../e2e/stack.ts';

const TOKEN = 'failover-registration';
const REGISTER = { name: 'w1', capacity: { cpus: 1, memoryBytes: 1 << 30 }, addresses: ['127.0.0.1'], labels: {}, instances: [] };
const REPORT = { capacity: { cpus: 1, memoryBytes: 1 << 30 }, usage: { cpus: 0, memoryBytes: 0 }, processes: 0, instances: [], time: 0 };

/** A loopback server that counts requests and answers each with `answer` (or kills the socket). */
async function broken(answer: 'error-503' | 'hang-up'): Promise<{ url: string; hits: () => number; close: () => Promise<void> }> {
  let hits = 0;
  const server: Server = createServer((req, res) => {
    hits += 1;
    req.resume();
    req.on('end', () => {
      if (answer === 'hang-up') req.socket.destroy();
      else res.writeHead(503, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'E_PROVIDER', message: 'database unreachable' }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    hits: () => hits,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

describe('agent protocol client with several replica URLs', () => {
  let dir: string;
  let store: Store;
  let replicas: FastifyInstance[];
  let urls: string[];
  let digest: string;

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'forge-agent-failover-'));
    store = openStore(path.join(dir, 'control'));
    const bundlesDir = path.join(dir, 'control', 'bundles');
    const src = path.join(dir, 'src');
    mkdirSync(src);
    writeFileSync(path.join(src, 'server.js'), 'console.log("v1")\n');
    const bundle = await packBundle(src);
    await createBundleStore(bundlesDir, 1 << 20).putPacked(bundle);
    digest = bundle.digest;
    replicas = [];
    urls = [];
    for (let i = 0; i < 2; i++) {
      const app = Fastify({ forceCloseConnections: true });
      await app.register(agentRoutes({ store, registrationTokens: [TOKEN], secretsFor: () => ({}), bundlesDir, maxClaimWaitMs: 100 }));
      await app.listen({ port: 0, host: '127.0.0.1' });
      replicas.push(app);
      urls.push(`http://127.0.0.1:${(app.server.address() as { port: number }).port}`);
    }
  });
  after(async () => {
    for (const app of replicas) await app.close();
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('the replica it talks to goes away: heartbeats, claims, logs and bundles go on through the other', async () => {
    const [a, b] = [urls[0]!, urls[1]!];
    const client = createProtocolClient(`${a},${b}/`);
    assert.deepEqual(client.servers, [a, b]);
    const answer = await client.register(REGISTER, TOKEN);
    client.setCredentials(answer.id, answer.token);
    assert.equal(client.server, a, 'the first URL while it works');
    await client.heartbeat(REPORT);

    await replicas[0]!.close(); // as SIGKILL leaves it: nothing listens on A any more
    const before = store.agents.get(answer.id)!.lastSeenMs!;
    await new Promise((r) => setTimeout(r, 5));
    await client.heartbeat({ ...REPORT, time: Date.now() });
    assert.equal(client.server, b, 'moved to B');
    assert.ok(store.agents.get(answer.id)!.lastSeenMs! > before, 'the heartbeat landed in the shared store');
    assert.equal(await client.claim(50), null);
    assert.equal(await client.logs([]), 'ok');
    const body = await client.bundle(digest);
    assert.ok((await new Response(body).arrayBuffer()).byteLength > 0);
    assert.equal(client.server, b, 'stays on B');
  });

  test('a replica answering 5xx is passed over, and later calls stay on the one that works', async () => {
    const b = urls[1]!;
    const sick = await broken('error-503');
    try {
      const direct = createProtocolClient(b);
      const answer = await direct.register(REGISTER, TOKEN);
      const client = createProtocolClient(`${sick.url},${b}`);
      client.setCredentials(answer.id, answer.token);
      await client.heartbeat(REPORT);
      assert.equal(sick.hits(), 1);
      assert.equal(client.server, b);
      await client.heartbeat(REPORT);
      assert.equal(await client.claim(50), null);
      assert.equal(sick.hits(), 1, 'sticky: the sick replica is not asked again');
    } finally {
      await sick.close();
    }
  });

  test('every replica down: the call fails with the last one named, after one try each', async () => {
    const sick = await broken('error-503');
    const down = `http://127.0.0.1:${await freePort()}`;
    try {
      const client = createProtocolClient(`${sick.url},${down}`);
      client.setCredentials('agt_x', 'tok');
      await assert.rejects(client.heartbeat(REPORT), (error: Error & { code?: string }) => error.code === 'E_PROVIDER' && error.message.includes(down));
      assert.equal(sick.hits(), 1);
    } finally {
      await sick.close();
    }
  });

  test('a first registration that may have reached a replica is not sent to another; one no replica saw is', async () => {
    const b = urls[1]!;
    const silent = await broken('hang-up');
    const down = `http://127.0.0.1:${await freePort()}`;
    try {
      const agents = store.agents.list().length;
      await assert.rejects(createProtocolClient(`${silent.url},${b}`).register(REGISTER, TOKEN), (error: Error & { code?: string }) => error.code === 'E_PROVIDER');
      assert.equal(store.agents.list().length, agents, 'B made no second agent');
      const viaB = createProtocolClient(`${down},${b}`);
      const answer = await viaB.register(REGISTER, TOKEN);
      assert.equal(viaB.server, b);
      // As itself (an id and its credential), registering again is harmless: it goes on past the silent one.
      const again = createProtocolClient(`${silent.url},${b}`);
      const back = await again.register({ ...REGISTER, id: answer.id }, answer.token);
      assert.equal(back.id, answer.id);
      assert.equal(again.server, b);
    } finally {
      await silent.close();
    }
  });
});
