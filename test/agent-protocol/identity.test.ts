// The agent keeps its own credential (data dir, 0600) and registers again as itself
// with it; the bootstrap token only ever creates new agents.

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import Fastify from 'fastify';
import { agentRoutes } from '../../api/agent-routes.ts';
import { revokeAgent } from '../../api/routes/agents.ts';
import { IDENTITY_FILE, registerAsSelf } from '../../agent/identity.ts';
import { createProtocolClient } from '../../agent/protocol-client.ts';
import { hashToken } from '../../providers/agent/tokens.ts';
import { tempStore } from '../store/helpers.ts';

const REG = 'bootstrap-token-0123456789abcdef0123';
const request = { name: 'w1', capacity: { cpus: 2, memoryBytes: 2 ** 31 }, addresses: ['127.0.0.1'], labels: {}, instances: [] };

test('registerAsSelf: keeps id and credential across restarts, re-bootstraps when forgotten, stops when revoked', async () => {
  const ts = tempStore();
  const dir = mkdtempSync(join(tmpdir(), 'forge-identity-'));
  const app = Fastify();
  await app.register(agentRoutes({ store: ts.store, registrationTokens: [REG], secretsFor: () => ({}) }));
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  try {
    const first = await registerAsSelf(createProtocolClient(url), dir, request, REG);
    const file = join(dir, IDENTITY_FILE);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), { id: first.id, token: first.token });
    assert.equal(ts.store.agents.get(first.id)!.tokenHash, hashToken(first.token), 'the store keeps only the hash');

    // A restart: same id, same credential, and a wrong bootstrap token does not matter.
    const again = await registerAsSelf(createProtocolClient(url), dir, request, 'not-the-bootstrap-token');
    assert.deepEqual([again.id, again.token], [first.id, first.token]);

    // The control plane forgot it (database reset): it registers anew with the bootstrap token.
    ts.store.agents.remove(first.id);
    const fresh = await registerAsSelf(createProtocolClient(url), dir, request, REG);
    assert.notEqual(fresh.id, first.id);
    assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), { id: fresh.id, token: fresh.token });

    // Revoked: refused, and the bootstrap token is not used to slip back in.
    revokeAgent(ts.store, fresh.id);
    await assert.rejects(registerAsSelf(createProtocolClient(url), dir, request, REG), (error: Error & { code?: string }) =>
      error.code === 'E_FORBIDDEN' && error.message.includes(`agent ${fresh.id} was revoked`));
    assert.equal(ts.store.agents.list().length, 1, 'no new agent was created');
  } finally {
    await app.close();
    ts.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
});
