import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { assertNoContractViolations, startFlyFake, type FlyFake } from './fly.ts';

async function call(fake: FlyFake, method: string, path: string, body?: unknown, token = fake.token): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${fake.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as unknown) : undefined };
}

async function withFake(fn: (fake: FlyFake) => Promise<void>): Promise<void> {
  const fake = await startFlyFake({ transitionMs: 1 });
  try {
    await fn(fake);
  } finally {
    await fake.close();
  }
}

const machine = { config: { image: 'img:1', metadata: { forge_key: 'web' } }, region: 'iad' };

describe('Fly fake', () => {
  it('requires the Bearer token', () =>
    withFake(async (fake) => {
      assert.deepEqual(await call(fake, 'GET', '/v1/apps/x', undefined, 'nope'), { status: 401, body: { error: 'unauthorized' } });
      assertNoContractViolations(fake);
    }));

  it('models a machine lifecycle: versions, 409 on a stale version, 412 on deleting a running machine', () =>
    withFake(async (fake) => {
      assert.equal((await call(fake, 'POST', '/v1/apps', { name: 'web-p1', org_slug: fake.org })).status, 201);
      assert.deepEqual(await call(fake, 'POST', '/v1/apps', { name: 'web-p1', org_slug: fake.org }), { status: 422, body: { error: 'app name web-p1 is already taken', status: 'name_taken' } });
      const created = (await call(fake, 'POST', '/v1/apps/web-p1/machines', machine)).body as { id: string; version: string };
      const base = `/v1/apps/web-p1/machines/${created.id}`;
      assert.deepEqual((await call(fake, 'GET', `${base}/wait?state=started&timeout=5`)).body, { ok: true, state: 'started', version: created.version, event_id: fake.liveMachines('web-p1')[0]!.events[0]!.id });
      const updated = (await call(fake, 'POST', base, { ...machine, current_version: created.version })).body as { id: string; version: string };
      assert.equal(updated.id, created.id);
      assert.notEqual(updated.version, created.version);
      assert.equal((await call(fake, 'POST', base, { ...machine, current_version: created.version })).status, 409);
      assert.equal((await call(fake, 'DELETE', base)).status, 412);
      assert.equal((await call(fake, 'DELETE', `${base}?force=true`)).status, 200);
      assert.equal((await call(fake, 'GET', `${base}/wait?state=destroyed&timeout=5`)).status, 200);
      assert.equal((await call(fake, 'GET', base)).status, 404);
      assertNoContractViolations(fake);
    }));

  it('records contract violations in what clients send', () =>
    withFake(async (fake) => {
      await call(fake, 'POST', '/v1/apps', { name: 'web-p1', org_slug: fake.org, bogus_field_type: 1, enable_subdomains: 'yes' });
      assert.deepEqual(fake.violations, ['POST /v1/apps request body/enable_subdomains must be boolean']);
      assert.throws(() => assertNoContractViolations(fake), /Fly contract violations \(1\)/);
    }));

  it('versions app secrets and never lists values', () =>
    withFake(async (fake) => {
      await call(fake, 'POST', '/v1/apps', { name: 'web-p1', org_slug: fake.org });
      const set = (await call(fake, 'POST', '/v1/apps/web-p1/secrets', { values: { A: 'secret-a' } })).body as { version: number; secrets: { name: string }[] };
      assert.equal(set.version, 1);
      assert.deepEqual(set.secrets.map((s) => s.name), ['A']);
      assert.deepEqual((await call(fake, 'DELETE', '/v1/apps/web-p1/secrets/A')).body, { version: 2 });
      const listed = JSON.stringify((await call(fake, 'GET', '/v1/apps/web-p1/secrets')).body);
      assert.equal(listed.includes('secret-a'), false);
      assertNoContractViolations(fake);
    }));

  it('lists org machines changed after a time, destroyed ones included when asked', () =>
    withFake(async (fake) => {
      const a = fake.createOrphan('app-a', { metadata: { forge_key: 'a' } });
      const since = new Date(Date.now() - 1).toISOString();
      await new Promise((r) => setTimeout(r, 5));
      const mark = new Date().toISOString();
      await new Promise((r) => setTimeout(r, 2));
      fake.destroyMachineBehindBack('app-a', a.id);
      const changed = (await call(fake, 'GET', `/v1/orgs/${fake.org}/machines?include_deleted=true&updated_after=${encodeURIComponent(mark)}`)).body as { machines: { id: string; state: string }[] };
      assert.deepEqual(changed.machines.map((m) => [m.id, m.state]), [[a.id, 'destroyed']]);
      const live = (await call(fake, 'GET', `/v1/orgs/${fake.org}/machines?updated_after=${encodeURIComponent(since)}`)).body as { machines: unknown[] };
      assert.deepEqual(live.machines, []);
      assertNoContractViolations(fake);
    }));
});
