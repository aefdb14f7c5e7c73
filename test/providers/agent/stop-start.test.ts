// Stop, then start, with several real agents (issue 13 item 2): a stopped replica
// is started again where it is kept, a new agent registering meanwhile does not
// pull a second copy of it elsewhere, and no instance id ever lives on two agents.

import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import type { AgentHandle } from '../../../agent/daemon.ts';
import type { ServiceSpec } from '../../../specs/types.ts';
import { eventually, httpText, loadExample, startControlPlane, type ControlPlane } from './harness.ts';

const needsRoot = process.getuid?.() === 0 ? false : 'needs root for cgroups and namespaces';
const GB = 1024 ** 3;
const LIVE = new Set(['starting', 'running', 'unhealthy']);

/** Every instance record on every agent: [agent name, instance id, replica, state]. */
function held(agents: readonly AgentHandle[], key: string): Array<[string, string, number, string]> {
  return agents.flatMap((agent) => agent.instances().filter((i) => i.service === key)
    .map((i): [string, string, number, string] => [agent.name, i.id, i.replica, i.state]));
}

describe('stop then start on several agents', { skip: needsRoot }, () => {
  let cp: ControlPlane;
  let spec: ServiceSpec;

  before(async () => {
    cp = await startControlPlane({ heartbeatTimeoutMs: 1_500, leaseMs: 5_000 });
    spec = { ...(await loadExample('node-hello')), name: 'stopstart', replicas: 2 };
  });
  after(async () => {
    await cp?.close();
  });

  async function settledRunning(key: string) {
    return eventually(`${key} running with 2 healthy replicas`, 60_000, async () => {
      const observed = await cp.observed(key);
      const status = cp.store.status.get(key);
      const ready = observed?.instances.filter((i) => i.state === 'running' && i.health === 'healthy') ?? [];
      return status?.phase === 'running' && observed?.instances.length === 2 && ready.length === 2 ? ready : undefined;
    });
  }

  test('a start after a new agent registered runs each replica once, where it was kept, and settles', async () => {
    await cp.startAgent('a', { portRange: { from: 23_400, to: 23_449 }, capacity: { cpus: 2, memoryBytes: 1 * GB } });
    await cp.startAgent('b', { portRange: { from: 23_450, to: 23_499 }, capacity: { cpus: 2, memoryBytes: 2 * GB } });
    cp.deploy([spec]);
    const first = await settledRunning('stopstart');
    const homes = new Map(first.map((i) => [i.id, i.agent]));
    assert.equal(new Set(homes.values()).size, 2, 'the two replicas spread over both agents');

    cp.store.services.setState('stopstart', 'stopped');
    cp.loop.nudge('stopstart');
    await eventually('both replicas stopped', 30_000, () => {
      const states = held(cp.agents, 'stopstart').map(([, , , state]) => state);
      return cp.store.status.get('stopstart')?.phase === 'stopped' && states.length === 2 && states.every((s) => s === 'stopped') ? true : undefined;
    });

    // A roomier agent arrives while the service is stopped.
    await cp.startAgent('c', { portRange: { from: 23_500, to: 23_549 }, capacity: { cpus: 4, memoryBytes: 4 * GB } });
    cp.store.services.setState('stopstart', 'running');
    cp.loop.nudge('stopstart');
    const again = await settledRunning('stopstart');
    for (const i of again) assert.equal(await httpText(i.address!, '/health'), '200 ok');

    // Let several reconcile passes go by: nothing more may be started.
    const starts = () => cp.store.events.list('stopstart').filter((e) => e.reason === 'Start').length;
    const startsAtRunning = starts();
    await sleep(1_500);
    assert.equal(starts(), startsAtRunning, 'no start is repeated once the service runs');
    assert.equal(cp.store.status.get('stopstart')?.phase, 'running');

    const records = held(cp.agents, 'stopstart');
    const live = records.filter(([, , , state]) => LIVE.has(state));
    assert.deepEqual(live.map(([, , replica]) => replica).sort(), [0, 1], `one live copy per replica, got ${JSON.stringify(records)}`);
    const ids = records.map(([, id]) => id);
    assert.equal(new Set(ids).size, ids.length, `no instance id is held by two agents: ${JSON.stringify(records)}`);
    // Each replica came back on the agent that kept it stopped.
    for (const [, id, , state] of live) {
      assert.equal(state, 'running');
      const agent = cp.agents.find((a) => a.instances().some((i) => i.id === id))!;
      assert.equal(agent.id, homes.get(id), `${id} started where it was kept`);
    }
  });
});
