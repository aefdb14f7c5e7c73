// The service router's timing contract with DNS upstreams, on a fake clock: set()
// resolves only once Caddy's refresh (plus margin) has passed since a changed set
// was published, also when the set was published by someone else (the resync),
// and only hostname changes write to Caddy's config.

import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import type { CaddyClient } from '../../router/caddy-client.ts';
import type { CaddyRoute } from '../../router/routes.ts';
import { createServiceRouter, type UpstreamPublisher } from '../../router/service-routes.ts';

function fakes() {
  let clock = 1_000;
  const slept: number[] = [];
  const writes: string[] = [];
  let routes: CaddyRoute[] = [];
  const client = {
    admin: 'http://fake', server: 'forge',
    readServer: async () => ({ routes }),
    ensureServer: async () => true,
    replaceRoute: async (id: string, route: CaddyRoute) => { writes.push(`put ${id}`); routes = routes.map((r) => (r['@id'] === id ? route : r)); return true; },
    deleteRoute: async (id: string) => { writes.push(`delete ${id}`); routes = routes.filter((r) => r['@id'] !== id); return true; },
    appendRoutes: async (add: CaddyRoute[]) => { writes.push(`add ${add.map((r) => r['@id']).join(',')}`); routes = [...routes, ...add]; },
    createRoutes: async (add: CaddyRoute[]) => { writes.push(`add ${add.map((r) => r['@id']).join(',')}`); routes = [...add]; },
  } as unknown as CaddyClient;
  const answers = new Map<string, string>();
  const responder: UpstreamPublisher = {
    resolverAddress: 'udp/127.0.0.1:5380',
    async publish(service, upstreams) {
      const next = [...upstreams].sort().join(',');
      const changed = answers.get(service) !== next;
      answers.set(service, next);
      return changed;
    },
    remove: (service) => { answers.delete(service); },
  };
  const router = createServiceRouter({
    client, domain: 'localhost', dns: { responder, refreshMs: 1_000, marginMs: 500 },
    now: () => clock,
    sleep: async (ms) => { slept.push(ms); clock += ms; },
  });
  router.replaceAll(new Map());
  return { router, slept, writes, answers, responder, advance: (ms: number) => { clock += ms; } };
}

describe('service router with DNS upstreams: timing and writes', () => {
  test('a new service: the answer is published, the route added once, and set() waits refresh + margin', async () => {
    const { router, slept, writes, answers } = fakes();
    await router.set('web', { domains: [], upstreams: ['127.0.0.1:22001'] });
    assert.equal(answers.get('web'), '127.0.0.1:22001');
    assert.deepEqual(writes, ['add forge-web']);
    assert.deepEqual(slept, [1_500]);
  });

  test('a new service with no instance yet: the route is added without a wait (nothing served, nothing to drain); its first upstream then waits', async () => {
    const { router, slept, writes, answers } = fakes();
    await router.set('web', { domains: [], upstreams: [] });
    assert.deepEqual(writes, ['add forge-web']);
    assert.equal(answers.get('web'), '');
    assert.deepEqual(slept, [], 'a reconcile waited out a refresh for a service with nothing to route');
    await router.set('web', { domains: [], upstreams: ['127.0.0.1:22001'] });
    assert.deepEqual(slept, [1_500]);
    await router.set('web', { domains: [], upstreams: [] });
    assert.deepEqual(slept, [1_500, 1_500], 'the last instance left: its drain waits');
  });

  test('publish() is set() without the sleep: it says how long until the change is in effect', async () => {
    const { router, slept, writes, answers, advance } = fakes();
    assert.equal(await router.publish('web', { domains: [], upstreams: ['127.0.0.1:22001'] }), 1_500);
    assert.deepEqual(writes, ['add forge-web']);
    assert.equal(answers.get('web'), '127.0.0.1:22001');
    advance(1_000);
    assert.equal(await router.publish('web', { domains: [], upstreams: ['127.0.0.1:22001'] }), 500, 'the same set: what is left of its refresh');
    advance(500);
    assert.equal(await router.publish('web', { domains: [], upstreams: ['127.0.0.1:22001'] }), 0);
    assert.deepEqual(slept, []);
  });

  test('after a restart an empty set the resync found still waits (Caddy may hold the old answer); only a service new to the table skips it', async () => {
    const { router, slept } = fakes();
    // A restarted control plane: the resync's table holds `web` with no routable instance (being stopped).
    router.replaceAll(new Map([['web', { domains: [], upstreams: [] }]]));
    await router.sync();
    assert.equal(await router.publish('web', { domains: [], upstreams: [] }), 1_500);
    assert.deepEqual(slept, []);
  });

  test('a publish that failed is tried again by the next call, not taken as done', async () => {
    const { router, answers, responder } = fakes();
    const real = responder.publish;
    let failures = 0;
    responder.publish = async (service, upstreams) => {
      if (failures-- > 0) throw new Error('dns sidecar not answering');
      return real(service, upstreams);
    };
    await router.set('web', { domains: [], upstreams: ['127.0.0.1:22001'] });
    failures = 1;
    await assert.rejects(router.publish('web', { domains: [], upstreams: ['127.0.0.1:22002'] }), /not answering/);
    assert.equal(await router.publish('web', { domains: [], upstreams: ['127.0.0.1:22002'] }), 1_500, 'the failed set was taken as in effect');
    assert.equal(answers.get('web'), '127.0.0.1:22002');
  });

  test('an upstream change (cutover, scale, drain) writes nothing to caddy and waits refresh + margin', async () => {
    const { router, slept, writes, answers } = fakes();
    await router.set('web', { domains: [], upstreams: ['127.0.0.1:22001'] });
    await router.set('web', { domains: [], upstreams: ['127.0.0.1:22002', '127.0.0.1:22003'] });
    await router.set('web', { domains: [], upstreams: ['127.0.0.1:22003'] });
    assert.deepEqual(writes, ['add forge-web']);
    assert.equal(answers.get('web'), '127.0.0.1:22003');
    assert.deepEqual(slept, [1_500, 1_500, 1_500]);
  });

  test('setting the set that is already published waits only for what is left of its refresh', async () => {
    const { router, slept, advance } = fakes();
    await router.set('web', { domains: [], upstreams: ['127.0.0.1:22001'] });
    // The resync published a new set; the reconcile then asks for the same set.
    router.replaceAll(new Map([['web', { domains: [], upstreams: ['127.0.0.1:22002'] }]]));
    await router.sync();
    advance(400);
    await router.set('web', { domains: [], upstreams: ['127.0.0.1:22002'] });
    assert.deepEqual(slept, [1_500, 1_100]);
    advance(5_000);
    await router.set('web', { domains: [], upstreams: ['127.0.0.1:22002'] });
    assert.deepEqual(slept, [1_500, 1_100], 'long in effect: no wait');
  });

  test('a hostname change is one route write; removing a service deletes its route, then its answer', async () => {
    const { router, writes, answers } = fakes();
    await router.set('web', { domains: [], upstreams: ['127.0.0.1:22001'] });
    await router.set('web', { domains: ['www.example.com'], upstreams: ['127.0.0.1:22001'] });
    assert.deepEqual(writes, ['add forge-web', 'put forge-web']);
    await router.remove('web');
    assert.deepEqual(writes, ['add forge-web', 'put forge-web', 'delete forge-web']);
    assert.equal(answers.has('web'), false);
  });

  test('a service the resync no longer lists loses its route and its answer', async () => {
    const { router, writes, answers } = fakes();
    await router.set('web', { domains: [], upstreams: ['127.0.0.1:22001'] });
    router.replaceAll(new Map());
    await router.sync();
    assert.deepEqual(writes, ['add forge-web', 'delete forge-web']);
    assert.equal(answers.has('web'), false);
  });
});
