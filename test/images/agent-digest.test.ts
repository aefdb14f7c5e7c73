// An image release written with only a tag (FORGE_IMAGE_PINNING=agent: the control
// plane cannot reach the registry its agents pull from) records the digest the agent
// resolved and ran: every later replica of that release runs those bytes, and a
// rollback to it runs them even after the tag moved. The agent provider against a
// real store; the agent's result is handed to its hub as agent-routes.ts does.

import assert from 'node:assert/strict';
import { afterEach, beforeEach, test } from 'node:test';
import { createAgentProvider, type AgentProvider } from '../../providers/agent/provider.ts';
import type { Action } from '../../providers/types.ts';
import type { RunPayload } from '../../schemas/agent-protocol.ts';
import { rollback } from '../../api/service-rollback.ts';
import { IMAGE_RUNTIME } from '../../specs/runtimes.ts';
import type { ServiceSpec } from '../../specs/types.ts';
import { makeSpec, fakeHash } from '../helpers/spec.ts';
import { tempStore, type TempStore } from '../store/helpers.ts';
import { resolveConfig } from '../../api/config.ts';
import { ForgeError } from '../../errors/index.ts';
import { apiHarness, ALL_PROVIDERS } from '../api/helpers.ts';

const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;
let ts: TempStore;
let provider: AgentProvider;

function release(generation: number, spec: ServiceSpec): string {
  const hash = fakeHash(spec);
  ts.store.services.upsert({ name: 'img', spec, hash, source: 'test' });
  ts.store.releases.record({ name: 'img', generation, hash, spec, revision: spec.image ?? null });
  return hash;
}

/** Creates replica `replica` of the release and returns its queued run task's payload. */
async function create(spec: ServiceSpec, hash: string, generation: number, replica: number): Promise<{ id: string; payload: RunPayload }> {
  const action: Action = { kind: 'create', key: 'img', replica, spec, hash, generation, reason: 'missing' };
  const { instanceId } = await provider.apply(action, { secrets: {} });
  const task = ts.store.tasks.listActive().find((t) => (t.payload as RunPayload).instanceId === instanceId)!;
  return { id: task.id, payload: task.payload as RunPayload };
}

/** The agent's result for a run task, as POST /api/agents/:id/tasks/:taskId/result delivers it. */
function ranDigest(taskId: string, digest: string): void {
  const task = ts.store.tasks.get(taskId)!;
  provider.hub.taskCompleted(task, true, { message: 'healthy', imageDigest: digest });
}

beforeEach(() => {
  ts = tempStore();
  ts.store.agents.register({
    id: 'agt_a', name: 'agt_a', tokenHash: 'h', addresses: [], labels: {}, capacity: { cpus: 4, memoryBytes: 8 * 2 ** 30 },
    runtimes: [{ name: IMAGE_RUNTIME, version: '1.9.0', path: '/usr/bin/skopeo' }],
  }, ts.clock.now);
  provider = createAgentProvider({ store: ts.store, now: () => ts.clock.now, heartbeatTimeoutMs: 3_000, resyncMinIntervalMs: 0 });
  provider.hub.agentRegistered('agt_a', []);
});
afterEach(() => ts.cleanup());

test('a tag resolved by the agent is recorded on its release: later replicas and a rollback run that digest', async () => {
  const v1 = makeSpec({ name: 'img', image: 'registry.test:5000/web:stable', replicas: 2, resources: { memoryMb: 128, cpus: 0.25 } });
  const h1 = release(1, v1);
  const first = await create(v1, h1, 1, 0);
  assert.equal(first.payload.spec.revision, undefined, 'nothing pinned yet: the agent resolves the tag');
  ranDigest(first.id, D1);
  assert.equal(ts.store.releases.get('img', 1)?.spec.revision, D1, 'the release records the digest its agent ran');
  assert.equal(ts.store.releases.get('img', 1)?.hash, h1, 'the release is still the same release');

  const second = await create(v1, h1, 1, 1);
  assert.equal(second.payload.spec.revision, D1, 'another replica of the release runs the same bytes, whatever the tag names now');
  assert.equal(second.payload.hash, h1);
  ranDigest(second.id, D2);
  assert.equal(ts.store.releases.get('img', 1)?.spec.revision, D1, 'a recorded digest is never replaced');
  ts.store.releases.setOutcome('img', 1, 'succeeded');

  // The tag moved; a new release (an env change) resolves it anew on the agent.
  const v2 = { ...v1, env: { MODE: 'two' } };
  const h2 = release(2, v2);
  const third = await create(v2, h2, 2, 0);
  ranDigest(third.id, D2);
  assert.equal(ts.store.releases.get('img', 2)?.spec.revision, D2);

  rollback(ts.store, 'img', { to: 1, hashOf: fakeHash });
  assert.equal(ts.store.services.get('img')?.spec.revision, D1, 'the rollback runs the digest release 1 ran, not what the tag names now');
});

test('a release that pins its digest (the control plane resolved it) is left as written', async () => {
  const pinned = { ...makeSpec({ name: 'img', image: 'registry.test:5000/web:stable' }), revision: D1 };
  const hash = release(1, pinned);
  const run = await create(pinned, hash, 1, 0);
  ranDigest(run.id, D2);
  assert.equal(ts.store.releases.get('img', 1)?.spec.revision, D1);
});

test('FORGE_IMAGE_PINNING: agent turns write-time pinning off; anything but control-plane or agent is a start-up error', async () => {
  const random = (n: number) => Buffer.alloc(n, 9);
  assert.equal(resolveConfig({}, {}, random, '/d').config.imagePinning, undefined);
  assert.equal(resolveConfig({ FORGE_IMAGE_PINNING: 'control-plane' }, {}, random, '/d').config.imagePinning, undefined);
  assert.equal(resolveConfig({ FORGE_IMAGE_PINNING: 'agent' }, {}, random, '/d').config.imagePinning, 'agent');
  assert.throws(() => resolveConfig({ FORGE_IMAGE_PINNING: 'agents' }, {}, random, '/d'),
    (e: unknown) => e instanceof ForgeError && e.code === 'E_USAGE' && /FORGE_IMAGE_PINNING must be control-plane \(the default\) or agent, got "agents"/.test(e.message));

  // Off: POST /api/compute/services writes the tag as given and asks no registry.
  let asked = 0;
  const h = await apiHarness({
    providersConfig: { ...ALL_PROVIDERS, agent: { configured: true, pinsImages: true } }, pinImages: false,
    pinImage: async () => { asked += 1; return D1; },
  });
  try {
    const res = await h.app.inject({ method: 'POST', url: '/api/compute/services', headers: h.auth(), payload: { name: 'img', provider: 'agent', imageUrl: 'registry.test:5000/web:stable', port: 8080 } });
    assert.equal(res.statusCode, 201, res.body);
    assert.deepEqual([h.store.services.get('img')?.spec.revision, asked], [undefined, 0]);
  } finally {
    await h.close();
  }
});
