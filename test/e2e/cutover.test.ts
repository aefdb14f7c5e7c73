// End to end against Debian's caddy and a real embedded agent: node-hello is
// reached through caddy by Host header; redeploys, a release whose health fails,
// caddy losing its routes, a rollback and a scale 1 → 3 → 1 all happen under
// continuous wrk-style load (autocannon: 16 keep-alive connections, no retries)
// with no non-2xx answer and no connection error at all. Upstreams come from
// Forge's DNS responder, so none of these loads a caddy config (counted from
// caddy's log), and a websocket to the old release stays open through its drain.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { startLoad, type LoadReport } from './load.ts';
import { APP, HOST, eventually, startStack, type Stack } from './stack.ts';
import { openWs, type WsClient } from './ws-client.ts';

const DEPLOY_LIMIT_MS = 45_000;

const CONNECTIONS = 16;

/**
 * No request failed: no non-2xx answer (a 502 from a stopped instance, a 503 from
 * an empty route) and no connection error of any kind (reset, refused, timeout),
 * and caddy loaded no config while it ran.
 */
function assertClean(report: LoadReport, what: string, caddyLoads: number): void {
  const detail = `${what}: ${report.requests} requests, ${caddyLoads} caddy config load(s), ${JSON.stringify({ statuses: report.statuses, errors: report.errorLog })}`;
  assert.ok(report.requests > 0, `${what}: load sent no requests`);
  assert.deepEqual({ non2xx: report.non2xx, connectionErrors: report.errors, caddyLoads }, { non2xx: 0, connectionErrors: 0, caddyLoads: 0 }, detail);
}

/** The service once only generation `generation`'s release runs, `replicas` instances of it, ready. */
async function settledOn(stack: Stack, generation: number, replicas = 1): Promise<void> {
  await eventually(`generation ${generation} running alone`, DEPLOY_LIMIT_MS, async () => {
    const status = stack.plane.store.status.get(APP);
    const [observed] = await stack.plane.observe([APP]);
    const hash = stack.plane.store.services.get(APP)?.hash;
    return status?.phase === 'running' && status.observedGeneration === generation
      && observed?.instances.length === replicas && observed.instances.every((i) => i.hash === hash && i.health === 'healthy');
  });
}

/**
 * The websocket opened to the old release stayed open across the cutover: it still
 * got the old release's ticks after the new release answered (the old instance
 * was out of the upstream set and draining), and it ended only after that.
 */
async function assertOpenUntilDrained(ws: WsClient, oldVersion: string, flippedAt: number): Promise<void> {
  const closed = await Promise.race([ws.closed, new Promise<null>((resolve) => setTimeout(() => resolve(null), 15_000))]);
  const late = ws.messages.filter((m) => m.at > flippedAt);
  const detail = JSON.stringify({ flippedAt, closed, first: ws.messages[0], last: ws.messages.at(-1), count: ws.messages.length });
  assert.ok(ws.messages.length > 0 && ws.messages.every((m) => m.text === `tick ${oldVersion}`), detail);
  assert.ok(late.length > 0, `the websocket got no tick after the new release answered: ${detail}`);
  assert.ok(closed !== null, `the websocket to the drained instance never ended: ${detail}`);
  assert.ok(closed.at > flippedAt, detail);
}

interface Window {
  report: LoadReport;
  /** Caddy config loads while the load ran. */
  caddyLoads: number;
}

/** Runs `change` (a deploy, a rollback) under load; resolves once `version` answers and the old release is gone. */
async function underLoad(stack: Stack, version: string, change: () => Promise<number>, replicas = 1): Promise<Window & { flippedAt: number }> {
  const loadsBefore = stack.caddyLoads();
  const load = startLoad({ httpAddr: stack.httpAddr, host: HOST, connections: CONNECTIONS });
  let flippedAt: number;
  try {
    await eventually('load to get answers', 5_000, () => Object.keys(load.report().firstSeen).length > 0);
    const generation = await change();
    flippedAt = await eventually(`${version} answering through caddy`, DEPLOY_LIMIT_MS, () => load.seen(version));
    await settledOn(stack, generation, replicas);
  } catch (error) {
    await load.finish();
    throw error;
  }
  const report = await load.finish();
  return { report, caddyLoads: stack.caddyLoads() - loadsBefore, flippedAt };
}

/** A websocket to the release answering now; resolves once it got its first tick. */
async function openedWs(stack: Stack): Promise<WsClient> {
  const ws = openWs(stack.httpAddr, HOST);
  await ws.opened;
  await eventually('a first websocket tick', 5_000, () => ws.messages.length > 0);
  return ws;
}

describe('cutover through caddy', { timeout: 240_000 }, () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });
  after(async () => {
    await stack?.stop();
  });

  test('a request with Host: node-hello.localhost reaches the app through caddy', async () => {
    const generation = await stack.apply();
    await settledOn(stack, generation);
    const reply = await eventually('the route', 10_000, async () => {
      const text = await stack.get();
      return text.startsWith('200 ') ? text : false;
    });
    assert.equal(reply, '200 hello from node-hello v1');
    assert.equal(stack.plane.store.status.get(APP)?.url, `http://${HOST}:${stack.httpAddr.split(':')[1]}`);
  });

  test('a redeploy under 16-connection load: no caddy config load, no non-2xx, no connection error; a websocket to v1 stays open until drained', async (t) => {
    const ws = await openedWs(stack);
    try {
      const { report, caddyLoads, flippedAt } = await underLoad(stack, 'v2', async () => {
        stack.editSource('v2');
        return stack.apply();
      });
      t.diagnostic(`redeploy: ${caddyLoads} caddy load(s), ${JSON.stringify(report)}`);
      assertClean(report, 'redeploy v1 → v2', caddyLoads);
      assert.equal(await stack.get(), '200 hello from node-hello v2');
      await assertOpenUntilDrained(ws, 'v1', flippedAt);
    } finally {
      ws.close();
    }
  });

  test('a release whose health fails never gets traffic: the old one serves, the service is failed with the reason; a fix deploys', async (t) => {
    const loadsBefore = stack.caddyLoads();
    const load = startLoad({ httpAddr: stack.httpAddr, host: HOST, connections: CONNECTIONS });
    let failedGeneration: number;
    try {
      stack.editSource('v3', { healthStatus: 503 });
      failedGeneration = await stack.apply();
      const status = await eventually('the service to be failed', DEPLOY_LIMIT_MS, () => {
        const row = stack.plane.store.status.get(APP);
        return row?.phase === 'failed' ? row : false;
      });
      assert.equal(status.lastError?.code, 'E_HEALTH_FAILED');
      assert.match(status.lastError?.message ?? '', /health check \/health returned 503/);
      // Still failed (not retried) and still served by v2 a few resyncs later.
      await new Promise((resolve) => setTimeout(resolve, 3 * stack.resyncIntervalMs));
      assert.equal(stack.plane.store.status.get(APP)?.phase, 'failed');
      assert.equal(await stack.get(), '200 hello from node-hello v2');
    } finally {
      const report = await load.finish();
      const caddyLoads = stack.caddyLoads() - loadsBefore;
      t.diagnostic(`failed release: ${caddyLoads} caddy load(s), ${JSON.stringify(report)}`);
      assert.equal(caddyLoads, 0, 'the route never changed');
      assertClean(report, 'failed release v3', caddyLoads);
      assert.equal(report.firstSeen.v3, undefined, 'the failed release never answered');
    }
    const release = stack.plane.store.releases.get(APP, failedGeneration);
    assert.equal(release?.outcome, 'failed');

    const fixed = await underLoad(stack, 'v3', async () => {
      stack.editSource('v3');
      return stack.apply();
    });
    t.diagnostic(`fixed release: ${fixed.caddyLoads} caddy load(s), ${JSON.stringify(fixed.report)}`);
    assertClean(fixed.report, 'fixed release v3', fixed.caddyLoads);
    assert.equal(await stack.get(), '200 hello from node-hello v3');
    assert.equal(stack.plane.store.status.get(APP)?.lastError, null);
  });

  test('caddy loaded empty gets the route back within a resync; a hand-deleted route is restored', async () => {
    const admin = async (method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown) => {
      const res = await request(`${stack.adminUrl}${path}`, {
        method, headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      await res.body.text();
      return res.statusCode;
    };
    const routed = () => eventually('the route back', 4 * stack.resyncIntervalMs, async () => {
      const text = await stack.get();
      return text === '200 hello from node-hello v3' ? text : false;
    });
    const adminAddr = new URL(stack.adminUrl).host;
    assert.equal(await admin('POST', '/load', { admin: { listen: adminAddr } }), 200);
    assert.equal(await admin('GET', '/id/forge-node-hello'), 404);
    assert.equal(await routed(), '200 hello from node-hello v3');
    assert.equal(await admin('GET', '/id/forge-node-hello'), 200);

    assert.equal(await admin('DELETE', '/id/forge-node-hello'), 200);
    assert.equal(await admin('GET', '/id/forge-node-hello'), 404);
    assert.equal(await routed(), '200 hello from node-hello v3');
    assert.equal(await admin('GET', '/id/forge-node-hello'), 200);
  });

  test('rollback through the API returns the previous release (its own source) with a clean cutover', async (t) => {
    let body: { toGeneration?: number; generation?: number } = {};
    const { report, caddyLoads } = await underLoad(stack, 'v2', async () => {
      const res = await request(`${stack.plane.url}/api/compute/services/${APP}/rollback`, {
        method: 'POST', headers: { 'x-api-key': stack.apiKey, 'content-type': 'application/json' }, body: '{}',
      });
      body = await res.body.json() as typeof body;
      assert.equal(res.statusCode, 200, JSON.stringify(body));
      return body.generation!;
    });
    t.diagnostic(`rollback: ${caddyLoads} caddy load(s), ${JSON.stringify(report)}`);
    assert.equal(body.toGeneration, 2, 'the newest earlier release that succeeded (v2)');
    assertClean(report, 'rollback v3 → v2', caddyLoads);
    assert.equal(await stack.get(), '200 hello from node-hello v2');
  });

  test('a scale from 1 to 3 and back to 1 under load: no caddy config load, no non-2xx, no connection error', async (t) => {
    const loadsBefore = stack.caddyLoads();
    const load = startLoad({ httpAddr: stack.httpAddr, host: HOST, connections: CONNECTIONS });
    try {
      await eventually('load to get answers', 5_000, () => Object.keys(load.report().firstSeen).length > 0);
      // The folder holds v3's source since the fix; make it v2's again (what the rollback runs).
      stack.editSource('v2');
      stack.setReplicas(3);
      await settledOn(stack, await stack.apply(), 3);
      // All three get traffic once Caddy has the new answer (round robin over the SRV set).
      const upstreams = await eventually('three upstreams published', 10_000, () => {
        const route = stack.routing.router?.get(APP);
        return route?.upstreams.length === 3 ? route.upstreams : false;
      });
      assert.equal(new Set(upstreams).size, 3);
      stack.setReplicas(1);
      await settledOn(stack, await stack.apply(), 1);
    } finally {
      const report = await load.finish();
      const caddyLoads = stack.caddyLoads() - loadsBefore;
      t.diagnostic(`scale 1 → 3 → 1: ${caddyLoads} caddy load(s), ${JSON.stringify(report)}`);
      assertClean(report, 'scale 1 → 3 → 1', caddyLoads);
    }
  });
});
