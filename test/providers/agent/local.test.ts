// The embedded local agent: the same daemon, registered against the local API
// with a one-time token, keeping its state under <dataDir>/agent.

import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import Fastify from 'fastify';
import { agentRoutes } from '../../../api/agent-routes.ts';
import { createLocalAgentToken, startLocalAgent } from '../../../agent/local.ts';
import { sweepSandboxes } from '../../../agent/sandbox/index.ts';
import { createAgentProvider } from '../../../providers/agent/provider.ts';
import { openStore } from '../../../store/index.ts';
import { eventually } from './harness.ts';

test('startLocalAgent registers in-process against the local API and heartbeats', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'forge-local-agent-'));
  const store = openStore(path.join(dir, 'control'));
  const provider = createAgentProvider({ store, heartbeatTimeoutMs: 2_000 });
  const token = createLocalAgentToken();
  const app = Fastify({ forceCloseConnections: true });
  await app.register(agentRoutes({ store, hub: provider.hub, registrationTokens: [token], secretsFor: () => ({}), heartbeatIntervalMs: 100 }));
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  const root = `forge-test-local-${process.pid}`;
  const agent = await startLocalAgent({
    apiUrl: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`, registrationToken: token, dataDir: dir,
    cgroupRoot: root, claimWaitMs: 200, log: () => {},
  });
  try {
    assert.match(token, /^fagr_[A-Za-z0-9_-]{32}$/);
    assert.equal(agent.name, `${os.hostname()}-local`);
    assert.equal(agent.metricsPort, null);
    assert.equal(existsSync(path.join(dir, 'agent', 'agent.json')), true);
    const row = await eventually('a heartbeat with usage', 5_000, () => {
      const r = store.agents.get(agent.id);
      return r?.usage ? r : undefined;
    });
    assert.equal(row.online, true);
    assert.deepEqual(row.instances, []);
  } finally {
    await agent.stop();
    await app.close();
    store.close();
    if (process.getuid?.() === 0) await sweepSandboxes(root);
    rmSync(dir, { recursive: true, force: true });
  }
});
