// Issue 13.20 on Fly: a rotated secret value reaches the app's secrets and the
// machine is updated to boot with them (a restart), never only relabelled. The
// loop, the real Fly provider and client run against the Fly fake; values are
// compared inside the test and never put into an assertion message.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { desiredHash, secretsDigest } from '../../../api/secrets.ts';
import type { ServiceSpec } from '../../../specs/types.ts';
import { assertNoContractViolations } from '../../fakes/fly.ts';
import { flySpec, startFlyHarness } from '../../fakes/fly-harness.ts';

test('rotating a secret updates the Fly app secret and restarts the machine on the new secrets version', async () => {
  const values: Record<string, string> = { API_TOKEN: `old-${randomBytes(4).toString('hex')}` };
  const hashKey = randomBytes(32);
  const h = await startFlyHarness({
    secretsFor: () => ({ ...values }),
    secretsDigest: (_name, spec) => secretsDigest(spec, values, hashKey),
  });
  const hashOf = (spec: ServiceSpec) => desiredHash(spec, values, hashKey);
  try {
    const spec = flySpec('web', { secrets: ['API_TOKEN'] });
    h.apply([spec], hashOf);
    await h.converge();
    const app = h.fake.world.apps.get('web-p1')!;
    const [before] = h.fake.liveMachines('web-p1');
    const versionBefore = before!.version; // the fake's machine objects change in place
    assert.ok(app.secrets.get('API_TOKEN')?.value === values.API_TOKEN, 'the first value is in the app secrets');

    values.API_TOKEN = `new-${randomBytes(4).toString('hex')}`;
    assert.deepEqual(h.apply([spec], hashOf), ['web']);
    const since = h.fake.requests.length;
    await h.converge();

    assert.ok(app.secrets.get('API_TOKEN')?.value === values.API_TOKEN, 'the rotated value is in the app secrets');
    const [after] = h.fake.liveMachines('web-p1');
    assert.equal(after!.id, before!.id);
    assert.notEqual(after!.version, versionBefore, 'the machine got a new config version (it restarted)');
    const update = h.fake.requests.slice(since).find((q) => q.method === 'POST' && q.path === `/v1/apps/web-p1/machines/${before!.id}`);
    assert.ok(update, 'a full machine update, not a metadata-only relabel');
    assert.equal(JSON.parse(update.body).min_secrets_version, app.secretsVersion);
    assert.equal(h.store.status.get('web')?.observedGeneration, h.store.services.get('web')?.generation);
    assert.ok(h.store.events.list('web').some((e) => e.message.startsWith('secret values changed')));
    for (const q of h.fake.requests.slice(since)) {
      if (q.path.endsWith('/secrets')) continue; // the one place a value may travel
      assert.ok(!q.body.includes(values.API_TOKEN), `no value in ${q.method} ${q.path}`);
    }
    assertNoContractViolations(h.fake);
  } finally {
    await h.close();
  }
});
