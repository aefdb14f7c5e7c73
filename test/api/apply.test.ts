import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { apiHarness, type ApiHarness } from './helpers.ts';

describe('POST /api/v1/apply', () => {
  let h: ApiHarness;
  before(async () => { h = await apiHarness(); });
  after(() => h.close());
  const apply = (payload: unknown) => h.app.inject({ method: 'POST', url: '/api/v1/apply', headers: h.auth(), payload: payload as object });

  test('dry run plans and writes nothing; the real run creates; prune deletes what the source no longer has', async () => {
    const specs = [{ name: 'web', image: 'nginx:1' }, { file: 'workers.yaml', text: 'name: worker\nimage: busybox\n' }];
    const dry = await apply({ source: 'ci:prod', specs, dryRun: true });
    assert.equal(dry.statusCode, 200);
    assert.deepEqual(dry.json().entries.map((e: { name: string; op: string }) => [e.name, e.op]), [['web', 'create'], ['worker', 'create']]);
    assert.equal(h.store.services.list().length, 0);
    const real = await apply({ source: 'ci:prod', specs });
    assert.deepEqual([real.json().dryRun, real.json().changed], [false, ['web', 'worker']]);
    assert.deepEqual(h.nudged, ['web', 'worker']);
    assert.equal(h.store.services.get('worker')!.source, 'ci:prod');
    const pruned = await apply({ source: 'ci:prod', specs: [{ name: 'web', image: 'nginx:1' }], prune: true });
    assert.deepEqual(pruned.json().entries.map((e: { name: string; op: string }) => [e.name, e.op]), [['web', 'unchanged'], ['worker', 'delete']]);
    assert.equal(h.store.services.get('worker')!.deleting, true);
    assert.equal(h.store.audit.list({ limit: 1 })[0]!.actor, 'key:test');
  });

  test('one apply writes one audit row, naming the caller, in the same transaction as the rows', async () => {
    const before = h.store.audit.list({ limit: 1000 }).length;
    const res = await apply({ source: 'ci:audit', specs: [{ name: 'audited', image: 'nginx:1' }] });
    assert.equal(res.statusCode, 200);
    const rows = h.store.audit.list({ limit: 1000 });
    assert.equal(rows.length - before, 1, JSON.stringify(rows.slice(0, rows.length - before)));
    assert.deepEqual([rows[0]!.actor, rows[0]!.action, rows[0]!.target, rows[0]!.details], ['key:test', 'apply', 'ci:audit', { changed: ['audited'], prune: false }]);
    // A failing audit write rolls the desired rows back: they are one transaction.
    const append = h.store.audit.append;
    h.store.audit.append = () => { throw new Error('audit disk full'); };
    try {
      const failed = await apply({ source: 'ci:audit', specs: [{ name: 'audited', image: 'nginx:1' }, { name: 'unaudited', image: 'nginx:1' }] });
      assert.equal(failed.statusCode, 500);
    } finally {
      h.store.audit.append = append;
    }
    assert.equal(h.store.services.get('unaudited'), null);
  });

  test('invalid specs → 400 E_SPEC_INVALID with every problem, positioned for YAML', async () => {
    const res = await apply({ specs: [{ name: 'a', image: 'x', colour: 1 }, { file: 'b.yaml', text: 'name: b\nport: high\nimage: x\n' }, { name: 'a', image: 'y' }, { name: 'a', image: 'z' }] });
    assert.equal(res.statusCode, 400);
    const body = res.json();
    assert.equal(body.error, 'E_SPEC_INVALID');
    assert.deepEqual(body.details, [
      { file: 'specs[0]', path: 'colour', message: 'unknown key `colour`' },
      { file: 'b.yaml', line: 2, col: 7, path: 'port', message: 'should be an integer' },
      { file: 'specs[3]', path: 'name', message: 'service a is also defined in specs[2]' },
    ]);
    assert.equal(h.store.services.get('b'), null);
  });

  test('a service owned by another source → 409; an unconfigured provider → 503; an empty body → 400', async () => {
    const conflict = await apply({ source: 'other', specs: [{ name: 'web', image: 'nginx:2' }] });
    assert.equal(conflict.statusCode, 409);
    assert.equal(conflict.json().error, 'E_CONFLICT');
    const cloud = await apply({ specs: [{ name: 'c', image: 'x', provider: 'cloud' }] });
    assert.deepEqual([cloud.statusCode, cloud.json().error], [503, 'COMPUTE_NOT_CONFIGURED']);
    const empty = await apply({});
    assert.deepEqual([empty.statusCode, empty.json().details], [400, [{ path: '', message: "must have required property 'specs'" }]]);
  });
});

describe('transport errors are 4xx with the error body, never 500', () => {
  let h: ApiHarness;
  before(async () => { h = await apiHarness({ bodyLimit: 1024 }); });
  after(() => h.close());

  test('invalid JSON → 400, too large → 413, wrong media type → 415, unknown route → 404', async () => {
    const headers = { ...h.auth(), 'content-type': 'application/json' };
    const bad = await h.app.inject({ method: 'POST', url: '/api/compute/services', headers, payload: '{"name":' });
    assert.deepEqual([bad.statusCode, bad.json().error], [400, 'E_BAD_REQUEST']);
    const big = await h.app.inject({ method: 'POST', url: '/api/compute/services', headers, payload: JSON.stringify({ name: 'x', image: 'y'.repeat(2000) }) });
    assert.deepEqual([big.statusCode, big.json()], [413, { error: 'E_BAD_REQUEST', message: 'request body too large', details: { code: 'FST_ERR_CTP_BODY_TOO_LARGE' } }]);
    const media = await h.app.inject({ method: 'POST', url: '/api/compute/services', headers: { ...h.auth(), 'content-type': 'text/xml' }, payload: '<x/>' });
    assert.deepEqual([media.statusCode, media.json().error], [415, 'E_BAD_REQUEST']);
    const route = await h.app.inject({ method: 'GET', url: '/api/nothing?x=1' });
    assert.deepEqual([route.statusCode, route.json()], [404, { error: 'E_NOT_FOUND', message: 'no route GET /api/nothing' }]);
    for (const res of [bad, big, media]) assert.doesNotMatch(res.body, /at .*\.(ts|js):\d+/);
    assert.match(bad.headers['x-request-id'] as string, /^[0-9a-f]{12}$/);
  });
});
