// Operators list and revoke agents through the admin API; no credential or hash is shown.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { apiHarness } from './helpers.ts';

test('GET /api/v1/agents lists agents without credentials; POST …/revoke revokes once, audited', async () => {
  const h = await apiHarness();
  try {
    const real = h.store.agents.register({ name: 'w1', tokenHash: 'hash-1', addresses: ['10.0.0.3'], labels: {}, capacity: { cpus: 4, memoryBytes: 8 * 2 ** 30 } }, Date.now());
    h.store.agents.register({ name: 'big', tokenHash: 'hash-2', addresses: [], labels: {}, capacity: { cpus: 4, memoryBytes: 2 ** 40 } }, Date.now());
    assert.equal((await h.app.inject({ method: 'GET', url: '/api/v1/agents' })).statusCode, 401);
    const listed = await h.app.inject({ method: 'GET', url: '/api/v1/agents', headers: h.auth() });
    assert.equal(listed.statusCode, 200);
    assert.equal(listed.body.includes('hash-'), false);
    assert.deepEqual(listed.json().agents.map((a: { name: string; capacityVerified: boolean; online: boolean; revokedAt: null }) =>
      [a.name, a.capacityVerified, a.online, a.revokedAt]), [['big', false, true, null], ['w1', true, true, null]]);

    const revoked = await h.app.inject({ method: 'POST', url: `/api/v1/agents/${real.id}/revoke`, headers: h.auth() });
    assert.equal(revoked.statusCode, 200);
    assert.equal(revoked.json().agent.online, false);
    assert.match(revoked.json().agent.revokedAt, /^\d{4}-/);
    assert.equal((await h.app.inject({ method: 'POST', url: `/api/v1/agents/${real.id}/revoke`, headers: h.auth() })).statusCode, 200, 'idempotent');
    assert.deepEqual(h.store.audit.list().filter((e) => e.action === 'agent.revoke').map((e) => e.target), [`agent:${real.id}`]);
    const missing = await h.app.inject({ method: 'POST', url: '/api/v1/agents/agt_nope/revoke', headers: h.auth() });
    assert.deepEqual([missing.statusCode, missing.json().error], [404, 'E_NOT_FOUND']);
  } finally {
    await h.close();
  }
});

test('forge agents list / revoke ID', async () => {
  const { cliHarness } = await import('../cli/helpers.ts');
  const h = await cliHarness({});
  try {
    const row = h.api.store.agents.register({ name: 'w1', tokenHash: 'hash-1', addresses: [], labels: {}, capacity: { cpus: 2, memoryBytes: 2048 * 2 ** 20 } }, Date.now());
    const listed = await h.run(['agents']);
    assert.deepEqual([listed.exitCode, listed.stdout], [0, `ID${' '.repeat(row.id.length - 2)}  NAME  STATE   CAPACITY        IMAGES\n${row.id}  w1    online  2 CPU, 2048 MB  -\n`]);
    const revoked = await h.run(['agents', 'revoke', row.id]);
    assert.deepEqual([revoked.exitCode, revoked.stdout], [0, `revoked agent ${row.id} (w1)\n`]);
    assert.notEqual(h.api.store.agents.get(row.id)!.revokedAt, null);
    const usage = await h.run(['agents', 'revoke']);
    assert.equal(usage.exitCode, 2);
  } finally {
    await h.close();
  }
});
