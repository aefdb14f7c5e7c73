// The route table gives each hostname to its owner, whatever the services' names
// sort like: a squatter named `aaa` listing `victim.localhost` never gets it.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ownedRouteTable } from '../../router/hostnames.ts';
import { desiredRoute } from '../../router/routes.ts';

const hostsOf = (route: ReturnType<typeof desiredRoute>) => (route.match?.[0] as { host: string[] }).host;

test("a default hostname always belongs to its service; a contested extra domain stays with who had it first", () => {
  const table = new Map([
    ['victim', { domains: ['shop.example.com'], upstreams: ['10.0.0.3:20001'] }],
    ['aaa', { domains: ['victim.localhost', 'shop.example.com', 'aaa.example.com'], upstreams: ['10.0.0.9:20000'] }],
  ]);
  const routes = ownedRouteTable(table, 'localhost').map((entry) => desiredRoute({ ...entry, domain: 'localhost' }));
  assert.deepEqual(routes.map((r) => [r['@id'], hostsOf(r)]), [
    ['forge-aaa', ['aaa.localhost', 'aaa.example.com']],
    ['forge-victim', ['victim.localhost', 'shop.example.com']],
  ]);
});

test('without conflicts the table is every service, by name, with its own domains', () => {
  const table = new Map([
    ['web', { domains: ['www.example.com'], upstreams: [] }],
    ['api', { domains: [], upstreams: ['127.0.0.1:1'] }],
  ]);
  assert.deepEqual(ownedRouteTable(table, 'localhost'), [
    { name: 'api', domains: [], upstreams: ['127.0.0.1:1'] },
    { name: 'web', domains: ['www.example.com'], upstreams: [] },
  ]);
});

test('through a real Caddy: the squatter sorted first does not serve the victim hostname', async () => {
  const { startCaddyFixture, startUpstream, viaCaddy } = await import('./caddy-harness.ts');
  const { createServiceRouter } = await import('../../router/service-routes.ts');
  const fixture = await startCaddyFixture();
  const victim = await startUpstream('victim');
  const squatter = await startUpstream('squatter');
  try {
    const router = createServiceRouter({ client: fixture.client, domain: 'localhost' });
    router.replaceAll(new Map([
      ['victim', { domains: [], upstreams: [victim.addr] }],
      ['aaa', { domains: ['victim.localhost'], upstreams: [squatter.addr] }],
    ]));
    await router.sync();
    assert.equal((await viaCaddy(fixture.httpAddr, 'victim.localhost')).body, 'victim /');
    assert.equal((await viaCaddy(fixture.httpAddr, 'aaa.localhost')).body, 'squatter /');
  } finally {
    await victim.close();
    await squatter.close();
    await fixture.stop();
  }
});
