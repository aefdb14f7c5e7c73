// End to end on 127.0.0.1 with the real kernel: control plane (store, agent
// routes, agent provider, reconciler loop) + real agent daemons building and
// running examples/node-hello and examples/python-hello in sandboxes.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { AgentHandle } from '../../../agent/daemon.ts';
import type { ServiceSpec } from '../../../specs/types.ts';
import {
  appPid, eventually, httpText, loadExample, startControlPlane, type ControlPlane,
} from './harness.ts';

const needsRoot = process.getuid?.() === 0 ? false : 'needs root for cgroups and namespaces';
const GB = 1024 ** 3;

describe('agents end to end', { skip: needsRoot }, () => {
  let cp: ControlPlane;
  let a: AgentHandle;
  let b: AgentHandle;
  let nodeHello: ServiceSpec;
  let pythonHello: ServiceSpec;

  before(async () => {
    cp = await startControlPlane({ heartbeatTimeoutMs: 1_500, leaseMs: 5_000 });
    nodeHello = await loadExample('node-hello');
    pythonHello = await loadExample('python-hello');
  });
  after(async () => {
    await cp?.close();
  });

  async function runningOn(key: string, agentId: string | undefined, limitMs: number) {
    return eventually(`${key} running and healthy${agentId ? ` on ${agentId}` : ''}`, limitMs, async () => {
      const observed = await cp.observed(key);
      const status = cp.store.status.get(key);
      const instance = observed?.instances.find((i) => i.state === 'running' && i.health === 'healthy' && (!agentId || i.agent === agentId));
      return observed?.instances.length === 1 && instance && status?.phase === 'running' ? instance : undefined;
    });
  }

  test('node-hello and python-hello build, start and answer at their reported address', async () => {
    a = await cp.startAgent('a', { portRange: { from: 21_000, to: 21_099 }, capacity: { cpus: 2, memoryBytes: 1 * GB } });
    cp.deploy([nodeHello, pythonHello]);
    const node = await runningOn('node-hello', a.id, 60_000);
    const python = await runningOn('python-hello', a.id, 60_000);
    assert.match(node.address ?? '', /^127\.0\.0\.1:210\d\d$/);
    assert.equal(await httpText(node.address!, '/health'), '200 ok');
    assert.equal(await httpText(node.address!, '/'), '200 hello from node-hello v1\n');
    assert.equal(await httpText(python.address!, '/'), '200 hello from python-hello v1\n');

    const logs = cp.store.tasks.listFor('node-hello').filter((t) => t.kind === 'run');
    assert.equal(logs.length, 1);
    assert.equal(logs[0]!.state, 'succeeded');
    assert.ok(cp.store.tasks.logs(logs[0]!.id).some((l) => l.line === `node-hello replica 0 healthy on ${node.address}`));

    const metrics = await (await fetch(`http://127.0.0.1:${a.metricsPort}/metrics`)).text();
    assert.match(metrics, /^forge_agent_memory_capacity_bytes\{agent="a"\} 1073741824$/m);
    assert.match(metrics, /^forge_agent_processes\{agent="a"\} [1-9]\d*$/m);
    assert.match(metrics, /^forge_agent_last_heartbeat_seconds\{agent="a"\} \d+(\.\d+)?$/m);

    // The app's own output reached the control plane's store, tagged with its instance.
    const shipped = await eventually('node-hello output shipped', 10_000, () =>
      cp.store.logs.list('node-hello', { instance: node.id }).find((l) => l.line.startsWith('node-hello v1 listening')));
    assert.equal(shipped.stream, 'stdout');
  });

  test('an instance killed by hand is restarted by the next reconcile', async () => {
    const before = await runningOn('node-hello', a.id, 10_000);
    const pid = await eventually('the node-hello app pid', 5_000, () => appPid(a, before.id, 'server.js'));
    process.kill(pid, 'SIGKILL');
    const after = await eventually('a new node-hello instance', 60_000, async () => {
      const observed = await cp.observed('node-hello');
      const fresh = observed?.instances.find((i) => i.id !== before.id && i.state === 'running' && i.health === 'healthy');
      return fresh && observed?.instances.length === 1 ? fresh : undefined;
    });
    assert.notEqual(after.id, before.id);
    assert.equal(await httpText(after.address!, '/health'), '200 ok');
    const exits = (await cp.provider.events('node-hello')).filter((e) => e.type === 'exit');
    assert.deepEqual(exits.map((e) => [e.instanceId, e.exitCode]), [[before.id, 137]]);
    // The exit names what the app printed last and where the rest is.
    assert.match(exits[0]!.status, new RegExp(`^killed by signal SIGKILL; last output: "node-hello v1 listening on :\\d+".* \\(full log: forge logs node-hello --instance ${before.id}\\)$`));
  });

  test('a second agent gets placements by headroom', async () => {
    b = await cp.startAgent('b', { portRange: { from: 21_100, to: 21_199 }, capacity: { cpus: 4, memoryBytes: 4 * GB } });
    cp.deploy([nodeHello, pythonHello, { ...nodeHello, name: 'node-two' }]);
    const two = await runningOn('node-two', b.id, 60_000);
    assert.match(two.address ?? '', /^127\.0\.0\.1:211\d\d$/);
    assert.equal(await httpText(two.address!, '/'), '200 hello from node-hello v1\n');
  });

  test('a dead agent\'s services are placed on the other agent', async () => {
    const shippedBefore = cp.store.logs.list('node-hello', { tail: 1_000 }).filter((l) => l.line.includes('listening'));
    assert.ok(shippedBefore.length > 0);
    await a.kill();
    const node = await runningOn('node-hello', b.id, 60_000);
    const python = await runningOn('python-hello', b.id, 60_000);
    assert.equal(await httpText(node.address!, '/health'), '200 ok');
    assert.equal(await httpText(python.address!, '/health'), '200 ok');
    assert.equal(cp.store.agents.get(a.id)?.online, false);
    // What agent a shipped before it died is still served.
    const kept = cp.store.logs.list('node-hello', { tail: 1_000 }).map((l) => l.seq);
    for (const line of shippedBefore) assert.ok(kept.includes(line.seq), `line ${line.seq} of ${line.instance} was lost`);
  });
});
