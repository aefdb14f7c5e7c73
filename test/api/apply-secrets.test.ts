// Issue 13.19: who owns a variable. A spec file owns the secret *names* it lists;
// a value set through the API (`forge secrets set`, `--env-set`) owns its name
// until it is unset. So a later `forge apply` of a file that does not list it
// keeps it (and says so), and a plan names every secret an apply would remove.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { openSecrets } from '../../api/secrets.ts';
import { planText } from '../../cli/format.ts';
import type { ApplyPlan } from '../../api/service-apply-set.ts';
import { apiHarness, type ApiHarness } from './helpers.ts';

describe('apply and values set through the API', () => {
  let h: ApiHarness;
  before(async () => { h = await apiHarness(); });
  after(() => h.close());
  const apply = async (payload: unknown): Promise<ApplyPlan> => {
    const res = await h.app.inject({ method: 'POST', url: '/api/v1/apply', headers: h.auth(), payload: payload as object });
    assert.equal(res.statusCode, 200, res.body);
    return res.json();
  };
  const patch = async (name: string, body: unknown) => {
    const res = await h.app.inject({ method: 'PATCH', url: `/api/compute/services/${name}`, headers: h.auth(), payload: body as object });
    assert.equal(res.statusCode, 200, res.body);
  };
  const SOURCE = 'file:/srv/forge.yaml';

  test('an --env-set value survives a later apply of a file without it; the plan says it is kept', async () => {
    await apply({ source: SOURCE, specs: [{ name: 'web', image: 'nginx:1' }] });
    await patch('web', { envVarsPatch: { set: { VERSION: 'v2' } } });
    const before = h.store.services.get('web')!;
    assert.deepEqual(before.spec.secrets, ['VERSION']);

    const dry = await apply({ source: SOURCE, specs: [{ name: 'web', image: 'nginx:1' }], dryRun: true });
    assert.deepEqual(dry.entries.map((e) => [e.name, e.op, e.changes]), [['web', 'unchanged', []]]);
    assert.deepEqual(dry.changed, []);

    const real = await apply({ source: SOURCE, specs: [{ name: 'web', image: 'nginx:2' }] });
    assert.deepEqual(real.entries.map((e) => [e.op, e.changes.map((c) => c.path)]), [['update', ['image']]]);
    const text = planText(real, { verbose: false });
    assert.match(text, /secret VERSION: set through the API, kept \(not listed in the file; `forge secrets unset web VERSION` removes it\)/);
    const after = h.store.services.get('web')!;
    assert.deepEqual(after.spec.secrets, ['VERSION']);
    assert.deepEqual(openSecrets(h.store, h.cipher, 'web'), { VERSION: 'v2' });
  });

  test('a name the file stops listing (no value stored) is removed, and the plan says so by name', async () => {
    await apply({ source: SOURCE, specs: [{ name: 'api', image: 'nginx:1', secrets: ['DB_URL', 'TOKEN'] }] });
    const plan = await apply({ source: SOURCE, specs: [{ name: 'api', image: 'nginx:1', secrets: ['TOKEN'] }], dryRun: true });
    assert.deepEqual(plan.entries.map((e) => [e.name, e.op]), [['api', 'update']]);
    assert.match(planText(plan, { verbose: false }), /removes secret DB_URL from the environment \(no value was stored\)/);
  });

  test('a prune that deletes a service names the stored values deleted with it, never the values', async () => {
    await patch('api', { envVarsPatch: { set: { TOKEN: 'value-canary-1' } } });
    const plan = await apply({ source: SOURCE, specs: [{ name: 'web', image: 'nginx:2' }], prune: true, dryRun: true });
    const text = planText(plan, { verbose: false });
    assert.match(text, /- api \(delete\)\n {4}deletes the stored value of secret TOKEN/);
    assert.ok(!text.includes('value-canary-1') && !JSON.stringify(plan).includes('value-canary-1'));
  });
});
