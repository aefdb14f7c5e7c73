// Defects 13.8: a region change is refused up front (400 E_REGION_IMMUTABLE, nothing
// written) by PATCH, by the upsert POST and by POST /api/v1/apply; and the errors the
// cloud and Fly providers throw for a region change or a spec they cannot run are
// terminal (the loop does not retry them).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ForgeError } from '../../errors/index.ts';
import { cloudHttpError } from '../../providers/cloud/client.ts';
import { createCloudProvider } from '../../providers/cloud/provider.ts';
import type { CloudClient } from '../../providers/cloud/client.ts';
import { makeSpec } from '../helpers/spec.ts';
import { apiHarness, type ApiHarness } from './helpers.ts';

describe('Defects 13.8: region cannot change in place', () => {
  let h: ApiHarness;
  before(async () => { h = await apiHarness(); });
  after(() => h.close());
  const call = (method: 'POST' | 'PATCH', url: string, payload: unknown) =>
    h.app.inject({ method, url, headers: h.auth(), payload: payload as object });

  // The compute routes send InsForge's code for it (api/compat.ts); apply keeps Forge's.
  test('PATCH {"region":"sjc"} → 400 COMPUTE_REGION_CHANGE_NOT_SUPPORTED and nothing is written', async () => {
    assert.equal((await call('POST', '/api/compute/services', { name: 'web', image: 'nginx:1.27', region: 'iad' })).statusCode, 201);
    const before = h.store.services.get('web')!;
    const audits = h.store.audit.list({ limit: 100 }).length;
    const res = await call('PATCH', '/api/compute/services/web', { region: 'sjc' });
    assert.equal(res.statusCode, 400);
    assert.equal(res.json().error, 'COMPUTE_REGION_CHANGE_NOT_SUPPORTED');
    assert.match(res.json().message, /runs in iad; its region cannot change in place to sjc/);
    const after = h.store.services.get('web')!;
    assert.deepEqual([after.spec.region, after.generation, after.hash], [before.spec.region, before.generation, before.hash]);
    assert.equal(h.store.audit.list({ limit: 100 }).length, audits, 'no audit row for a refused write');
    const upsert = await call('POST', '/api/compute/services', { name: 'web', image: 'nginx:1.27', region: 'sjc' });
    assert.deepEqual([upsert.statusCode, upsert.json().error], [400, 'COMPUTE_REGION_CHANGE_NOT_SUPPORTED']);
    const same = await call('PATCH', '/api/compute/services/web', { region: 'iad', memory: 1024 });
    assert.equal(same.statusCode, 200, 'the same region with other changes is fine');
  });

  test('POST /api/v1/apply with a changed region → 400 E_REGION_IMMUTABLE, dry run too, nothing written', async () => {
    const apply = (payload: unknown) => h.app.inject({ method: 'POST', url: '/api/v1/apply', headers: h.auth(), payload: payload as object });
    assert.equal((await apply({ source: 'ci', specs: [{ name: 'api', image: 'x:1', region: 'ams' }] })).statusCode, 200);
    const generation = h.store.services.get('api')!.generation;
    for (const dryRun of [true, false]) {
      const res = await apply({ source: 'ci', dryRun, specs: [{ name: 'api', image: 'x:2', region: 'sjc' }] });
      assert.deepEqual([res.statusCode, res.json().error], [400, 'E_REGION_IMMUTABLE'], `dryRun ${dryRun}`);
    }
    const row = h.store.services.get('api')!;
    assert.deepEqual([row.spec.region, row.spec.image, row.generation], ['ams', 'x:1', generation]);
  });
});

describe('Defects 13.8: region and spec refusals from providers are terminal', () => {
  test('the cloud provider: a spec without an image, and a remote E_REGION_IMMUTABLE / E_SPEC_INVALID', async () => {
    const client = { list: async () => [], close: async () => {} } as unknown as CloudClient;
    const provider = createCloudProvider({ client, controlPlaneId: 'cp_0000000000000001' });
    const spec = makeSpec({ name: 'web', provider: 'cloud', image: undefined, build: { commands: [] }, run: { command: 'x' } });
    await assert.rejects(
      provider.apply({ kind: 'create', key: 'web', replica: 0, spec, hash: 'h', generation: 1, reason: 'new' }, { secrets: {} }),
      (e: unknown) => e instanceof ForgeError && e.code === 'E_SPEC_INVALID' && e.terminal);
    for (const code of ['E_REGION_IMMUTABLE', 'E_SPEC_INVALID'] as const) {
      const error = cloudHttpError(400, { error: code, message: 'no' }, 'POST /api/compute/services');
      assert.deepEqual([error.code, error.terminal], [code, true]);
    }
    // A remote's other 4xx answers are not about this spec: retried.
    assert.equal(cloudHttpError(409, { error: 'E_CONFLICT', message: 'busy' }, 'POST x').terminal, false);
  });
});

describe('Defects 13.8: the CLI reports the refusal', () => {
  test('forge update web --region sjc exits non-zero with E_REGION_IMMUTABLE and changes nothing', async () => {
    const { cliHarness } = await import('../cli/helpers.ts');
    const cli = await cliHarness({ withLoop: false });
    try {
      const created = await cli.run(['deploy', '--name', 'web', '--image', 'nginx:1.27', '--region', 'iad', '--no-wait']);
      assert.equal(cli.api.store.services.get('web')?.spec.region, 'iad', created.stderr);
      const res = await cli.run(['update', 'web', '--region', 'sjc']);
      assert.notEqual(res.exitCode, 0);
      assert.match(res.stderr, /E_REGION_IMMUTABLE: service web runs in iad; its region cannot change in place to sjc/);
      assert.equal(cli.api.store.services.get('web')?.spec.region, 'iad');
    } finally {
      await cli.close();
    }
  });
});
