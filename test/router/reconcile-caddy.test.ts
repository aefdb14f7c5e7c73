// Route reconcile against a real caddy (Debian's package): every test starts its
// own managed caddy on free loopback ports and stops it.

import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import { reconcileRoutes } from '../../router/reconcile.ts';
import { desiredRoute, type CaddyRoute } from '../../router/routes.ts';
import { adminRaw, startCaddyFixture, startUpstream, viaCaddy, withCaddy, type Upstream } from './caddy-harness.ts';

const route = (name: string, ...upstreams: string[]): CaddyRoute => desiredRoute({ name, domain: 'localhost', upstreams });

async function withUpstreams(tags: string[], fn: (ups: Upstream[]) => Promise<void>): Promise<void> {
  const ups = await Promise.all(tags.map((t) => startUpstream(t)));
  try {
    await fn(ups);
  } finally {
    await Promise.all(ups.map((u) => u.close()));
  }
}

const routeIds = (routes: unknown): unknown[] => (Array.isArray(routes) ? routes.map((r: { '@id'?: unknown }) => r['@id'] ?? null) : []);

describe('reconcileRoutes against real caddy', () => {
  test('adds, updates and removes routes through /id/; the upstream is reachable with its Host header', async () => {
    await withCaddy(async ({ client, httpAddr }) => {
      await withUpstreams(['one', 'two'], async ([one, two]) => {
        assert.ok(one && two);
        const first = await reconcileRoutes(client, [route('app', one.addr), route('api', two.addr)]);
        assert.deepEqual(first, { added: ['forge-app', 'forge-api'], updated: [], removed: [], createdServer: false });
        assert.deepEqual(await viaCaddy(httpAddr, 'app.localhost', '/x'), { status: 200, body: 'one /x', seenHost: 'app.localhost' });
        assert.deepEqual(await viaCaddy(httpAddr, 'api.localhost'), { status: 200, body: 'two /', seenHost: 'api.localhost' });

        assert.deepEqual(await reconcileRoutes(client, [route('app', one.addr), route('api', two.addr)]), {
          added: [],
          updated: [],
          removed: [],
          createdServer: false,
        });

        const second = await reconcileRoutes(client, [route('app', two.addr)]);
        assert.deepEqual(second, { added: [], updated: ['forge-app'], removed: ['forge-api'], createdServer: false });
        assert.deepEqual(await client.getRoute('forge-app'), route('app', two.addr));
        assert.equal(await client.getRoute('forge-api'), null);
        assert.equal((await viaCaddy(httpAddr, 'app.localhost')).body, 'two /');
        // Nothing matches api.localhost any more: caddy's empty default answer.
        assert.deepEqual(await viaCaddy(httpAddr, 'api.localhost'), { status: 200, body: '', seenHost: undefined });
      });
    });
  });

  test('replicas: both upstreams receive traffic (round robin)', async () => {
    await withCaddy(async ({ client, httpAddr }) => {
      await withUpstreams(['r0', 'r1'], async ([r0, r1]) => {
        assert.ok(r0 && r1);
        await reconcileRoutes(client, [route('app', r1.addr, r0.addr)]);
        const bodies = new Set<string>();
        for (let i = 0; i < 4; i += 1) bodies.add((await viaCaddy(httpAddr, 'app.localhost')).body);
        assert.deepEqual([...bodies].sort(), ['r0 /', 'r1 /']);
      });
    });
  });

  test('no healthy upstream → caddy answers 503 with a short body', async () => {
    await withCaddy(async ({ client, httpAddr }) => {
      await reconcileRoutes(client, [route('app')]);
      assert.deepEqual(await viaCaddy(httpAddr, 'app.localhost'), { status: 503, body: 'app: no healthy instance\n', seenHost: undefined });
    });
  });

  test('a route in Forge\'s server that Forge did not put there is removed and named (15.7)', async () => {
    await withCaddy(async ({ client, caddy, httpAddr }) => {
      await withUpstreams(['victim'], async ([victim]) => {
        assert.ok(victim);
        // What an app with the admin API in reach did: send victim.localhost to itself, ahead of Forge's route.
        const hijack: CaddyRoute = { match: [{ host: ['victim.localhost'] }], handle: [{ body: 'HIJACKED', handler: 'static_response' }], terminal: true };
        const otherId: CaddyRoute = { '@id': 'ops-status', match: [{ host: ['ops.localhost'] }], handle: [{ body: 'ops', handler: 'static_response' }] };
        await reconcileRoutes(client, [route('old'), route('victim', victim.addr)]);
        await adminRaw(caddy.adminUrl, 'PATCH', '/config/apps/http/servers/forge/routes', [hijack, otherId, route('old'), route('victim', victim.addr)]);
        assert.equal((await viaCaddy(httpAddr, 'victim.localhost')).body, 'HIJACKED');

        const result = await reconcileRoutes(client, [route('app'), route('victim', victim.addr)]);
        assert.deepEqual(result, {
          added: ['forge-app'], updated: [], removed: ['forge-old'], createdServer: false,
          foreign: [{ hosts: ['victim.localhost'] }, { id: 'ops-status', hosts: ['ops.localhost'] }],
        });
        const live = await adminRaw(caddy.adminUrl, 'GET', '/config/apps/http/servers/forge/routes');
        assert.deepEqual(live.json, [route('app'), route('victim', victim.addr)]);
        assert.equal((await viaCaddy(httpAddr, 'victim.localhost')).body, 'victim /');
        // Clean now: the next pass has nothing foreign to report.
        assert.deepEqual(await reconcileRoutes(client, [route('app'), route('victim', victim.addr)]), { added: [], updated: [], removed: [], createdServer: false });
      });
    });
  });

  test('a hand-deleted forge route is restored by the next reconcile', async () => {
    await withCaddy(async ({ client, caddy, httpAddr }) => {
      await withUpstreams(['one'], async ([one]) => {
        assert.ok(one);
        const desired = [route('app', one.addr), route('api')];
        await reconcileRoutes(client, desired);
        assert.equal((await adminRaw(caddy.adminUrl, 'DELETE', '/id/forge-app')).status, 200);
        assert.equal((await viaCaddy(httpAddr, 'app.localhost')).status, 200);
        assert.equal((await viaCaddy(httpAddr, 'app.localhost')).body, '');

        assert.deepEqual(await reconcileRoutes(client, desired), { added: ['forge-app'], updated: [], removed: [], createdServer: false });
        assert.equal((await viaCaddy(httpAddr, 'app.localhost')).body, 'one /');
      });
    });
  });

  test('a hand-edited upstream is restored in place', async () => {
    await withCaddy(async ({ client, caddy, httpAddr }) => {
      await withUpstreams(['real', 'impostor'], async ([real, impostor]) => {
        assert.ok(real && impostor);
        const desired = [route('app', real.addr), route('api')];
        await reconcileRoutes(client, desired);
        await adminRaw(caddy.adminUrl, 'PATCH', '/id/forge-app/handle/0/upstreams', [{ dial: impostor.addr }]);
        assert.equal((await viaCaddy(httpAddr, 'app.localhost')).body, 'impostor /');

        assert.deepEqual(await reconcileRoutes(client, desired), { added: [], updated: ['forge-app'], removed: [], createdServer: false });
        assert.equal((await viaCaddy(httpAddr, 'app.localhost')).body, 'real /');
        const live = await adminRaw(caddy.adminUrl, 'GET', '/config/apps/http/servers/forge/routes');
        assert.deepEqual(routeIds(live.json), ['forge-app', 'forge-api']);
      });
    });
  });

  test('caddy loaded with an empty config (our server gone) gets every route back in one reconcile', async () => {
    await withCaddy(async ({ client, caddy, adminAddr, httpAddr }) => {
      await withUpstreams(['one'], async ([one]) => {
        assert.ok(one);
        const desired = [route('app', one.addr), route('api')];
        await reconcileRoutes(client, desired);
        // Keep the admin listener, drop everything else, as a restarted caddy with a bare config would.
        assert.equal((await adminRaw(caddy.adminUrl, 'POST', '/load', { admin: { listen: adminAddr } })).status, 200);
        assert.equal(await client.readServer(), null);

        assert.deepEqual(await reconcileRoutes(client, desired), { added: ['forge-app', 'forge-api'], updated: [], removed: [], createdServer: true });
        assert.equal((await viaCaddy(httpAddr, 'app.localhost')).body, 'one /');
        assert.equal((await viaCaddy(httpAddr, 'api.localhost')).status, 503);
        assert.deepEqual(await reconcileRoutes(client, desired), { added: [], updated: [], removed: [], createdServer: false });
      });
    });
  });

  test('a supervised caddy killed outright restarts from its base config and one reconcile restores routes', async () => {
    let restarted!: () => void;
    const restartedOnce = new Promise<void>((resolve) => {
      restarted = resolve;
    });
    const fx = await startCaddyFixture({ restartBackoffMs: 50, onEvent: (e) => e.type === 'restarted' && restarted() });
    try {
      await withUpstreams(['one'], async ([one]) => {
        assert.ok(one);
        const desired = [route('app', one.addr)];
        await reconcileRoutes(fx.client, desired);
        const firstPid = fx.caddy.pid;
        assert.ok(firstPid);
        process.kill(firstPid, 'SIGKILL'); // our own child's pid
        await restartedOnce;
        assert.equal(fx.caddy.restarts, 1);
        assert.notEqual(fx.caddy.pid, firstPid);
        assert.deepEqual(await fx.client.readServer(), { listen: [fx.httpAddr], routes: [], automatic_https: { disable: true } });

        assert.deepEqual(await reconcileRoutes(fx.client, desired), { added: ['forge-app'], updated: [], removed: [], createdServer: false });
        assert.equal((await viaCaddy(fx.httpAddr, 'app.localhost')).body, 'one /');
      });
    } finally {
      await fx.stop();
    }
  });
});
