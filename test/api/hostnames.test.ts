// Hostnames are owned: `<name>.<domain>` and every `domains` entry belong to one
// service. A write claiming another service's hostname is refused with 409 naming
// the owner, before anything is written.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { apiHarness, type ApiHarness } from './helpers.ts';

describe('hostname ownership', () => {
  let h: ApiHarness;
  before(async () => {
    h = await apiHarness();
    const victim = await h.app.inject({ method: 'POST', url: '/api/v1/apply', headers: h.auth(), payload: { source: 'shop', specs: [{ name: 'victim', image: 'nginx:1', domains: ['shop.example.com', 'admin.localhost'] }] } });
    assert.equal(victim.statusCode, 200);
  });
  after(() => h.close());
  const apply = (payload: unknown) => h.app.inject({ method: 'POST', url: '/api/v1/apply', headers: h.auth(), payload: payload as object });

  test("squatting another service's default hostname through apply → 409 naming the owner; nothing written", async () => {
    const before = h.store.audit.list().length;
    const res = await apply({ source: 'evil', specs: [{ name: 'aaa', image: 'evil:1', domains: ['victim.localhost'] }] });
    assert.equal(res.statusCode, 409);
    assert.deepEqual(res.json(), {
      error: 'E_CONFLICT',
      message: 'hostname victim.localhost belongs to service victim; service aaa cannot claim it',
      details: [{ hostname: 'victim.localhost', claimant: 'aaa', owner: 'victim' }],
    });
    assert.equal(h.store.services.get('aaa'), null);
    assert.equal(h.store.audit.list().length, before);
  });

  test("squatting another service's extra domain through apply, in any case → 409", async () => {
    const res = await apply({ specs: [{ name: 'squat', image: 'evil:1', domains: ['SHOP.example.com'] }] });
    assert.deepEqual([res.statusCode, res.json().message], [409, 'hostname shop.example.com belongs to service victim; service squat cannot claim it']);
    assert.equal(h.store.services.get('squat'), null);
  });

  test('a compute-route service whose default hostname another service owns → 409; nothing written', async () => {
    const create = await h.app.inject({ method: 'POST', url: '/api/compute/services', headers: h.auth(), payload: { name: 'admin', image: 'evil:1' } });
    assert.deepEqual([create.statusCode, create.json().message], [409, 'hostname admin.localhost belongs to service victim; service admin cannot claim it']);
    assert.equal(h.store.services.get('admin'), null);
  });

  test("a service named after another's extra domain label, and two specs of one apply claiming one hostname → 409", async () => {
    const taken = await apply({ source: 'owner2', specs: [{ name: 'owner2', image: 'x:1', domains: ['late.localhost'] }] });
    assert.equal(taken.statusCode, 200);
    const late = await apply({ specs: [{ name: 'late', image: 'x:1' }] });
    assert.deepEqual([late.statusCode, late.json().message], [409, 'hostname late.localhost belongs to service owner2; service late cannot claim it']);
    const both = await apply({ specs: [{ name: 'one', image: 'x:1', domains: ['same.example.com'] }, { name: 'two', image: 'x:1', domains: ['same.example.com'] }] });
    assert.deepEqual([both.statusCode, both.json().message], [409, 'hostname same.example.com belongs to service one; service two cannot claim it']);
  });

  test('the owner may keep and change its own hostnames; a pruned or deleted service releases them', async () => {
    const again = await apply({ source: 'shop', specs: [{ name: 'victim', image: 'nginx:2', domains: ['shop.example.com', 'www.shop.example.com'] }] });
    assert.equal(again.statusCode, 200);
    const patched = await h.app.inject({ method: 'PATCH', url: '/api/compute/services/victim', headers: h.auth(), payload: { image: 'nginx:3' } });
    assert.equal(patched.statusCode, 200);
    assert.equal((await apply({ source: 'set-a', specs: [{ name: 'mover-a', image: 'x:1', domains: ['moving.example.com'] }] })).statusCode, 200);
    const moved = await apply({ source: 'set-a', prune: true, specs: [{ name: 'mover-b', image: 'x:1', domains: ['moving.example.com'] }] });
    assert.equal(moved.statusCode, 200, 'mover-a is pruned in the same apply');
    const deleted = await h.app.inject({ method: 'DELETE', url: '/api/compute/services/owner2', headers: h.auth() });
    assert.equal(deleted.statusCode, 202);
    assert.equal((await apply({ specs: [{ name: 'late', image: 'x:1' }] })).statusCode, 200);
  });
});
