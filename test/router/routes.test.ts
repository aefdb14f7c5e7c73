import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { ForgeError } from '../../errors/index.ts';
import { desiredRoute, diffRoutes, isEmptyDiff, routeHosts, sameJson, type CaddyRoute } from '../../router/routes.ts';

const proxy = (...dials: string[]) => ({
  handler: 'reverse_proxy',
  upstreams: dials.map((dial) => ({ dial })),
  load_balancing: { selection_policy: { policy: 'round_robin' }, try_duration: '2s' },
});

describe('desiredRoute', () => {
  test('one upstream, base domain only', () => {
    assert.deepEqual(desiredRoute({ name: 'app', domain: 'localhost', upstreams: ['127.0.0.1:4001'] }), {
      '@id': 'forge-app',
      match: [{ host: ['app.localhost'] }],
      handle: [proxy('127.0.0.1:4001')],
      terminal: true,
    });
  });

  test('upstreams are sorted and de-duplicated so instance order never causes an update', () => {
    const a = desiredRoute({ name: 'web', domain: 'example.com', upstreams: ['10.0.0.2:80', '10.0.0.1:80', '10.0.0.2:80'] });
    const b = desiredRoute({ name: 'web', domain: 'example.com', upstreams: ['10.0.0.1:80', '10.0.0.2:80'] });
    assert.deepEqual(a.handle, [proxy('10.0.0.1:80', '10.0.0.2:80')]);
    assert.deepEqual(a, b);
  });

  test('extra domains follow the primary host, sorted, lowercased, without repeats', () => {
    const route = desiredRoute({
      name: 'web',
      domain: 'Example.com',
      domains: ['www.shop.io', 'API.shop.io', 'web.example.com', 'www.shop.io'],
      upstreams: ['h:1'],
    });
    assert.deepEqual(route.match, [{ host: ['web.example.com', 'api.shop.io', 'www.shop.io'] }]);
  });

  test('no healthy upstream → a 503 static response, not a proxy to nothing', () => {
    assert.deepEqual(desiredRoute({ name: 'app', domain: 'localhost', upstreams: [] }), {
      '@id': 'forge-app',
      match: [{ host: ['app.localhost'] }],
      handle: [
        {
          handler: 'static_response',
          status_code: 503,
          headers: { 'Content-Type': ['text/plain; charset=utf-8'], 'Retry-After': ['5'] },
          body: 'app: no healthy instance\n',
        },
      ],
      terminal: true,
    });
  });

  test('routeHosts table', () => {
    const cases: Array<[string, string, string[], string[]]> = [
      ['a', 'localhost', [], ['a.localhost']],
      ['a', 'x.io', ['b.io', 'a.x.io'], ['a.x.io', 'b.io']],
      ['a', 'x.io', ['C.io', 'b.io'], ['a.x.io', 'b.io', 'c.io']],
    ];
    for (const [name, domain, domains, expected] of cases) assert.deepEqual(routeHosts(name, domain, domains), expected);
  });
});

const r = (name: string, ...dials: string[]): CaddyRoute => desiredRoute({ name, domain: 'localhost', upstreams: dials });
const foreign: CaddyRoute = { match: [{ host: ['other.localhost'] }], handle: [{ handler: 'static_response', body: 'hi' }] };
const foreignWithId: CaddyRoute = { '@id': 'ops-metrics', handle: [{ handler: 'static_response', body: 'm' }] };

describe('diffRoutes', () => {
  const cases: Array<{ name: string; desired: CaddyRoute[]; live: CaddyRoute[]; expected: { put: CaddyRoute[]; add: CaddyRoute[]; remove: string[] } }> = [
    { name: 'empty both', desired: [], live: [], expected: { put: [], add: [], remove: [] } },
    { name: 'missing route is added', desired: [r('a', 'h:1')], live: [], expected: { put: [], add: [r('a', 'h:1')], remove: [] } },
    { name: 'equal route is left alone', desired: [r('a', 'h:1')], live: [r('a', 'h:1')], expected: { put: [], add: [], remove: [] } },
    { name: 'changed upstream is put', desired: [r('a', 'h:2')], live: [r('a', 'h:1')], expected: { put: [r('a', 'h:2')], add: [], remove: [] } },
    { name: 'forge route not desired is removed', desired: [], live: [r('a', 'h:1'), r('b')], expected: { put: [], add: [], remove: ['forge-a', 'forge-b'] } },
    {
      name: 'routes without forge ids are never touched',
      desired: [r('a', 'h:1')],
      live: [foreign, foreignWithId, r('a', 'h:1')],
      expected: { put: [], add: [], remove: [] },
    },
    {
      name: 'duplicate live copies are all removed and one is re-added',
      desired: [r('a', 'h:1')],
      live: [r('a', 'h:1'), r('a', 'h:1')],
      expected: { put: [], add: [r('a', 'h:1')], remove: ['forge-a', 'forge-a'] },
    },
    {
      name: 'undesired duplicates are removed once per copy',
      desired: [],
      live: [r('z'), foreign, r('z')],
      expected: { put: [], add: [], remove: ['forge-z', 'forge-z'] },
    },
    {
      name: 'mixed: add, put, remove together',
      desired: [r('a', 'h:1'), r('b', 'h:2'), r('c')],
      live: [foreign, r('b', 'h:9'), r('d', 'h:4'), r('a', 'h:1')],
      expected: { put: [r('b', 'h:2')], add: [r('c')], remove: ['forge-d'] },
    },
  ];
  for (const c of cases) {
    test(c.name, () => assert.deepEqual(diffRoutes(c.desired, c.live), c.expected));
  }

  test('key order in the live JSON does not count as a change (Caddy returns keys sorted)', () => {
    const live: CaddyRoute = JSON.parse('{"terminal":true,"match":[{"host":["a.localhost"]}],"handle":[{"upstreams":[{"dial":"h:1"}],"load_balancing":{"try_duration":"2s","selection_policy":{"policy":"round_robin"}},"handler":"reverse_proxy"}],"@id":"forge-a"}');
    assert.equal(sameJson(live, r('a', 'h:1')), true);
    assert.deepEqual(diffRoutes([r('a', 'h:1')], [live]), { put: [], add: [], remove: [] });
  });

  test('a desired route without a forge id, or a repeated one, is a programming error', () => {
    assert.throws(() => diffRoutes([foreignWithId], []), (e: unknown) => e instanceof ForgeError && e.code === 'E_INTERNAL');
    assert.throws(() => diffRoutes([r('a'), r('a', 'h:1')], []), (e: unknown) => e instanceof ForgeError && e.code === 'E_INTERNAL');
  });
});

/** Applies a diff the way Caddy's admin API does: delete by /id/ (the last copy), PATCH in place, append. */
function applyLikeCaddy(live: CaddyRoute[], diff: ReturnType<typeof diffRoutes>): CaddyRoute[] {
  const out = [...live];
  for (const id of diff.remove) {
    const idx = out.map((x) => x['@id']).lastIndexOf(id);
    if (idx >= 0) out.splice(idx, 1);
  }
  for (const route of diff.put) {
    const idx = out.findIndex((x) => x['@id'] === route['@id']);
    out[idx] = route;
  }
  return [...out, ...diff.add];
}

describe('diffRoutes properties', () => {
  const name = fc.constantFrom('a', 'b', 'c', 'd', 'e');
  const dials = fc.array(fc.constantFrom('h:1', 'h:2', 'h:3'), { maxLength: 3 });
  const forgeRoute = fc.tuple(name, dials).map(([n, d]) => r(n, ...d));
  const otherRoute = fc.constantFrom(foreign, foreignWithId, { handle: [{ handler: 'static_response', body: 'x' }] } as CaddyRoute);
  const live = fc.array(fc.oneof(forgeRoute, otherRoute), { maxLength: 8 });
  const desired = fc.uniqueArray(forgeRoute, { selector: (x) => x['@id'], maxLength: 5 });

  test('after applying the diff, the next diff is empty and foreign routes keep their order', () => {
    fc.assert(
      fc.property(desired, live, (want, have) => {
        const after = applyLikeCaddy(have, diffRoutes(want, have));
        assert.equal(isEmptyDiff(diffRoutes(want, after)), true);
        const foreignOnly = (rs: CaddyRoute[]) => rs.filter((x) => !String(x['@id'] ?? '').startsWith('forge-'));
        assert.deepEqual(foreignOnly(after), foreignOnly(have));
        const forgeIds = after.map((x) => x['@id']).filter((id) => String(id).startsWith('forge-')).sort();
        assert.deepEqual(forgeIds, want.map((x) => x['@id']).sort());
      }),
      { numRuns: 300 },
    );
  });
});
