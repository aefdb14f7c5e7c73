import { test } from 'node:test';
import assert from 'node:assert/strict';
import { wireProviders } from '../../api/startup.ts';
import { openWorldProvider } from '../fakes/world-provider.ts';

test('wireProviders: fly needs FLY_ORG; given providers count as configured', async () => {
  assert.deepEqual(wireProviders({}, [], { controlPlaneId: 'cp_0000000000000001' }).config, {
    agent: { configured: false, reason: 'no agent provider is running on this control plane' },
    fly: { configured: false, reason: 'FLY_API_TOKEN is not set' },
    cloud: { configured: false, reason: 'PROJECT_ID is not set' },
  });
  const agent = openWorldProvider({ path: ':memory:' });
  try {
    const wired = wireProviders({ FLY_API_TOKEN: 't', FLY_ORG: 'acme', FLY_API_HOSTNAME: 'http://127.0.0.1:9' }, [agent], { controlPlaneId: 'cp_0000000000000001' });
    assert.deepEqual(wired.providers.map((p) => p.name), ['agent', 'fly']);
    // The agent's `runs` is a getter (read on each use: images only while an agent that can has registered).
    assert.deepEqual({ ...wired.config.agent, runs: wired.config.agent.runs }, { configured: true, runs: { images: true, source: true } });
    assert.deepEqual(wired.config.fly, { configured: true, reason: 'FLY_API_TOKEN is set; deploying into Fly org acme', runs: { images: true, source: false, remoteBuilds: true } });
    assert.equal(typeof wired.fly?.mintDeployToken, 'function');
    assert.throws(() => wireProviders({ FLY_API_TOKEN: 't' }, [], { controlPlaneId: 'cp_0000000000000001' }), /FLY_API_TOKEN is set but FLY_ORG is not/);
  } finally {
    await agent.close?.();
  }
});
