// The agent provider against a real store and a hand-moved clock: what observe()
// shows from reports and in-flight tasks, what apply() queues, idempotency,
// unschedulable reasons, crash-loop backoff, offline sweeps, no secret in a task.

import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { Registry } from 'prom-client';
import { createAgentProvider, type AgentProvider } from '../../../providers/agent/provider.ts';
import { registerAgentsOnlineGauge } from '../../../providers/agent/metrics.ts';
import type { InstanceReport } from '../../../schemas/agent-protocol.ts';
import type { Action } from '../../../providers/types.ts';
import { ForgeError } from '../../../errors/index.ts';
import { makeSpec, fakeHash } from '../../helpers/spec.ts';
import { tempStore, T0, type TempStore } from '../../store/helpers.ts';

const MB = 1024 * 1024;
const { image: _image, ...spec } = makeSpec({ name: 'web', sourceDir: '/src/web', run: { command: 'node server.js' }, resources: { memoryMb: 256, cpus: 0.5 } });
const hash = fakeHash(spec);

let ts: TempStore;
let provider: AgentProvider;
let nudged: string[];

function addAgent(id: string, memoryMb: number, cpus = 2): void {
  ts.store.agents.register({ id, name: id, tokenHash: `hash-${id}`, addresses: [], labels: {}, capacity: { cpus, memoryBytes: memoryMb * MB } }, ts.clock.now);
  provider.hub.agentRegistered(id, []);
}

function report(agentId: string, instances: InstanceReport[]): void {
  const body = { capacity: ts.store.agents.get(agentId)!.capacity, usage: { cpus: 0, memoryBytes: 0 }, processes: 0, instances, time: ts.clock.now };
  ts.store.agents.heartbeat(agentId, { usage: body.usage, instances }, ts.clock.now);
  provider.hub.heartbeatReceived(agentId, body);
}

function instance(id: string, extra: Partial<InstanceReport> = {}): InstanceReport {
  return {
    id, service: 'web', replica: 0, generation: 1, hash, region: spec.region, state: 'running', port: 20000,
    address: '127.0.0.1:20000', health: 'healthy', ...extra,
  };
}

const create = (replica = 0): Action => ({ kind: 'create', key: 'web', replica, spec, hash, generation: 1, reason: 'missing' });

beforeEach(() => {
  ts = tempStore();
  ts.store.services.upsert({ name: 'web', spec, hash, source: 'test' });
  ts.store.releases.record({ name: 'web', generation: 1, hash, spec, revision: null });
  provider = createAgentProvider({
    store: ts.store, now: () => ts.clock.now, heartbeatTimeoutMs: 3_000, leaseMs: 10_000, resyncMinIntervalMs: 0,
  });
  nudged = [];
  provider.onChange!((key) => nudged.push(key));
});
afterEach(() => ts.cleanup());

describe('apply', () => {
  test('create places on the agent with the most headroom and queues a run task without secret values', async () => {
    addAgent('agt_a', 512);
    addAgent('agt_b', 2048);
    const result = await provider.apply(create(), { secrets: { TOKEN: 'very-secret-value' } });
    assert.match(result.instanceId!, /^inst_[0-9a-f]{16}$/);
    assert.equal(result.message, 'placed on agt_b');
    const [task] = ts.store.tasks.listActive();
    assert.equal(task!.kind, 'run');
    assert.equal(task!.agentId, 'agt_b');
    assert.deepEqual(task!.payload, { instanceId: result.instanceId, spec, hash, generation: 1, replica: 0 });
    assert.equal(JSON.stringify(task).includes('very-secret-value'), false);
    const [observed] = await provider.observe(['web']);
    assert.deepEqual(observed!.instances.map((i) => [i.id, i.state, i.agent, i.health]), [[result.instanceId, 'creating', 'agt_b', 'unknown']]);
    assert.deepEqual(nudged, ['web']);
  });

  test('create is idempotent: a repeated create returns the instance already under way', async () => {
    addAgent('agt_a', 1024);
    const first = await provider.apply(create(), { secrets: {} });
    const second = await provider.apply(create(), { secrets: {} });
    assert.deepEqual(second, { instanceId: first.instanceId, message: 'already exists' });
    assert.equal(ts.store.tasks.listActive().length, 1);
  });

  test('no headroom anywhere: E_UNSCHEDULABLE naming what was short', async () => {
    addAgent('agt_a', 200);
    await assert.rejects(provider.apply(create(), { secrets: {} }), (error: ForgeError) => {
      assert.equal(error.code, 'E_UNSCHEDULABLE');
      assert.equal(error.terminal, false);
      assert.equal(error.message, 'cannot place web replica 0: needs 256 MB memory, the most free on any agent is 200 MB');
      return true;
    });
  });

  test('reported instances reserve their resources', async () => {
    addAgent('agt_a', 512);
    report('agt_a', [instance('inst_1', { reserved: { cpus: 0.5, memoryBytes: 384 * MB } })]);
    await assert.rejects(provider.apply(create(1), { secrets: {} }), { code: 'E_UNSCHEDULABLE' });
  });

  test('replace starts the new instance beside the old one and stops nothing', async () => {
    addAgent('agt_a', 1024);
    report('agt_a', [instance('inst_old', { hash: 'oldhash', generation: 0 })]);
    const result = await provider.apply({ kind: 'replace', key: 'web', instanceId: 'inst_old', replica: 0, spec, hash, generation: 1, changed: ['env'], reason: 'r' }, { secrets: {} });
    assert.deepEqual(ts.store.tasks.listActive().map((t) => t.kind), ['run']);
    const [observed] = await provider.observe(['web']);
    assert.deepEqual(observed!.instances.map((i) => [i.id, i.state]).sort(), [[result.instanceId, 'creating'], ['inst_old', 'running']].sort());
  });

  test('destroy queues a stop for the agent holding the instance; a queued-only instance is just cancelled', async () => {
    addAgent('agt_a', 1024);
    report('agt_a', [instance('inst_1')]);
    await provider.apply({ kind: 'destroy', key: 'web', instanceId: 'inst_1', reason: 'scale down' }, { secrets: {} });
    const [stop] = ts.store.tasks.listActive();
    assert.deepEqual([stop!.kind, stop!.agentId, stop!.payload], ['stop', 'agt_a', { instanceId: 'inst_1', remove: true }]);

    const queued = await provider.apply(create(1), { secrets: {} });
    await provider.apply({ kind: 'destroy', key: 'web', instanceId: queued.instanceId!, reason: 'gone' }, { secrets: {} });
    assert.deepEqual(ts.store.tasks.listActive().map((t) => t.kind), ['stop']);
    const [observed] = await provider.observe(['web']);
    assert.deepEqual(observed!.instances.map((i) => [i.id, i.state]), [['inst_1', 'running']]);
  });

  test('a crashed instance is observed failed with its slot\'s crash count and exit time (the CrashLoopBackOff input)', async () => {
    addAgent('agt_a', 1024);
    report('agt_a', [instance('inst_1', { state: 'exited', exitCode: 1, reason: 'exited with code 1', restarts: 3, exitedAt: T0 })]);
    const [observed] = await provider.observe(['web']);
    assert.deepEqual(
      observed!.instances.map((i) => [i.state, i.exitCode, i.reason, i.restarts, i.exitedAt]),
      [['failed', 1, 'exited with code 1 (crashed 3 times in a row)', 3, T0]],
    );
    // Spacing the replacements is the reconciler's decision (reconciler/crash-backoff.ts), not the provider's.
    const replace: Action = { kind: 'replace', key: 'web', instanceId: 'inst_1', replica: 0, spec, hash, generation: 1, changed: [], reason: 'failed' };
    assert.equal((await provider.apply(replace, { secrets: {} })).message, 'placed on agt_a');
  });

  test('an image goes only to an agent that reported it can run images; the provider offers images only then', async () => {
    addAgent('agt_a', 1024);
    const imageSpec = makeSpec({ name: 'web' });
    const action: Action = { kind: 'create', key: 'web', replica: 0, spec: imageSpec, hash, generation: 1, reason: 'missing' };
    assert.equal(provider.capabilities.runsImages, false, 'no agent said it can run images');
    await assert.rejects(provider.apply(action, { secrets: {} }), { code: 'E_UNSCHEDULABLE', message: /can run images \(skopeo, umoci and crun\)/ });
    assert.equal(ts.store.tasks.listActive().length, 0);

    ts.store.agents.register({ id: 'agt_img', name: 'agt_img', tokenHash: 'hash-agt_img', addresses: [], labels: {}, capacity: { cpus: 2, memoryBytes: 512 * MB },
      runtimes: [{ name: 'oci-image', version: '1.9.3', path: '/usr/bin/skopeo' }] }, ts.clock.now);
    provider.hub.agentRegistered('agt_img', []);
    assert.equal(provider.capabilities.runsImages, true);
    const placed = await provider.apply(action, { secrets: {} });
    assert.match(placed.message ?? '', /placed on agt_img/, 'not on the roomier agent that cannot run images');
  });

  test('update is refused: agents restart for any change', async () => {
    await assert.rejects(
      provider.apply({ kind: 'update', key: 'web', instanceId: 'x', replica: 0, spec, hash, generation: 1, changed: [], reason: 'r' }, { secrets: {} }),
      { code: 'E_PROVIDER' },
    );
    assert.equal(provider.capabilities.updateInPlace, false);
  });

  test('an error action (a change diff refused) is refused like Fly and cloud do, terminal, queueing nothing', async () => {
    addAgent('agt_a', 1024);
    await assert.rejects(
      provider.apply({ kind: 'error', key: 'web', code: 'E_REGION_IMMUTABLE', reason: 'region cannot change' }, { secrets: {} }),
      { code: 'E_REGION_IMMUTABLE', terminal: true, message: 'region cannot change' },
    );
    assert.equal(ts.store.tasks.listActive().length, 0);
  });

  test('the agent provider declares Forge\'s router: its instances are routed and drained by Forge', () => {
    assert.equal(provider.capabilities.routing, 'forge');
  });
});

describe('observe and agents', () => {
  test('reports map to observed states; a keep-stop shows as stopping', async () => {
    addAgent('agt_a', 4096);
    report('agt_a', [
      instance('inst_0'),
      instance('inst_1', { replica: 1, state: 'starting', health: 'unknown' }),
      instance('inst_2', { replica: 2, state: 'unhealthy', health: 'unhealthy', reason: 'health check /health returned 503 three times' }),
      instance('inst_3', { replica: 3, state: 'exited', exitCode: 137, oomKilled: true, reason: 'OOM-killed at 256 MB limit', restarts: 1, exitedAt: T0 }),
      instance('inst_4', { replica: 4, state: 'stopped', health: 'unknown' }),
    ]);
    await provider.apply({ kind: 'stop', key: 'web', instanceId: 'inst_0', reason: 'stopped' }, { secrets: {} });
    const [observed] = await provider.observe();
    assert.deepEqual(observed!.instances.map((i) => [i.id, i.state, i.health, i.reason ?? null, i.oomKilled ?? null, i.spec === spec]), [
      ['inst_0', 'stopping', 'healthy', null, null, false],
      ['inst_1', 'starting', 'unknown', null, null, false],
      ['inst_2', 'running', 'unhealthy', 'health check /health returned 503 three times', null, false],
      ['inst_3', 'failed', 'unhealthy', 'OOM-killed at 256 MB limit', true, false],
      ['inst_4', 'stopped', 'unknown', null, null, false],
    ]);
    // The spec comes from the release, so diff can tell a relabel from a real change.
    assert.deepEqual(observed!.instances[0]!.spec, spec);
  });

  test('an agent that misses its heartbeats goes offline on resync; its instances and tasks are gone', async () => {
    addAgent('agt_a', 1024);
    addAgent('agt_b', 1024);
    report('agt_a', [instance('inst_1')]);
    await provider.apply(create(1), { secrets: {} }); // lands on agt_b (spread)
    ts.clock.now = T0 + 2_000;
    report('agt_b', []);
    nudged.length = 0;
    ts.clock.now = T0 + 4_000;
    await provider.resync!();
    assert.equal(ts.store.agents.get('agt_a')!.online, false);
    assert.equal(ts.store.agents.get('agt_b')!.online, true);
    const [observed] = await provider.observe(['web']);
    assert.deepEqual(observed!.instances.map((i) => [i.replica, i.agent]), [[1, 'agt_b']]);
    assert.deepEqual(nudged, ['web']);
    assert.deepEqual((await provider.events('web')).map((e) => [e.type, e.status]).at(-1), ['agent lost', 'agt_a missed its heartbeats']);
  });

  test('after a control plane restart an agent is not offline before a whole heartbeat timeout has passed since the start', async () => {
    addAgent('agt_a', 1024);
    report('agt_a', [instance('inst_1')]);
    ts.clock.now = T0 + 10_000; // down for 10 s: the agent's heartbeats in that time reached nobody
    const restarted = createAgentProvider({ store: ts.store, now: () => ts.clock.now, heartbeatTimeoutMs: 3_000, resyncMinIntervalMs: 0 });
    ts.clock.now = T0 + 12_999;
    await restarted.resync!();
    assert.equal(ts.store.agents.get('agt_a')!.online, true);
    assert.deepEqual((await restarted.observe(['web']))[0]!.instances.map((i) => i.id), ['inst_1']);
    ts.clock.now = T0 + 13_000; // still silent a whole timeout after the start: offline
    await restarted.resync!();
    assert.equal(ts.store.agents.get('agt_a')!.online, false);
    assert.deepEqual(await restarted.observe(['web']), []);
  });

  test('an agent that registers again after a restart holds nothing: its old instances are gone at once, and said so', async () => {
    addAgent('agt_a', 1024);
    report('agt_a', [instance('inst_1')]);
    nudged.length = 0;
    ts.store.agents.register({ id: 'agt_a', name: 'agt_a', tokenHash: 'h2', addresses: [], labels: {}, capacity: { cpus: 2, memoryBytes: 1024 * MB }, instances: [] }, ts.clock.now);
    provider.hub.agentRegistered('agt_a', []);
    assert.deepEqual(await provider.observe(['web']), []);
    assert.deepEqual(nudged, ['web']);
    assert.deepEqual((await provider.events('web')).map((e) => [e.instanceId, e.type]).at(-1), ['inst_1', 'agent restarted']);
    // A restarted control plane reads the same from the store.
    const restarted = createAgentProvider({ store: ts.store, now: () => ts.clock.now, heartbeatTimeoutMs: 3_000 });
    assert.deepEqual(await restarted.observe(['web']), []);
  });

  test('an agent that registers again is working on nothing: the run it had claimed no longer counts as an instance', async () => {
    addAgent('agt_a', 1024);
    await provider.apply(create(), { secrets: {} });
    const task = ts.store.tasks.claim('agt_a', ts.clock.now, 10_000)!;
    provider.hub.taskClaimed(task);
    assert.deepEqual((await provider.observe(['web']))[0]!.instances.map((i) => i.state), ['starting']);
    ts.store.tasks.cancelClaimedBy('agt_a'); // what the register route does first
    provider.hub.agentRegistered('agt_a', []);
    assert.deepEqual(await provider.observe(['web']), []);
  });

  test('an agent that registers again with live instances (the control plane had forgotten it) keeps them', async () => {
    addAgent('agt_a', 1024);
    provider.hub.agentRegistered('agt_a', [instance('inst_1')]);
    assert.deepEqual((await provider.observe(['web']))[0]!.instances.map((i) => [i.id, i.state]), [['inst_1', 'running']]);
  });

  test('a heartbeat that changes nothing nudges nothing; an exit nudges the key and is an event', async () => {
    addAgent('agt_a', 1024);
    report('agt_a', [instance('inst_1')]);
    nudged.length = 0;
    report('agt_a', [instance('inst_1')]);
    assert.deepEqual(nudged, []);
    report('agt_a', [instance('inst_1', { state: 'exited', exitCode: 137, reason: 'killed by signal SIGKILL', restarts: 1, exitedAt: T0 })]);
    assert.deepEqual(nudged, ['web']);
    const exit = (await provider.events('web')).find((e) => e.type === 'exit');
    assert.deepEqual([exit?.instanceId, exit?.status, exit?.exitCode], ['inst_1', 'killed by signal SIGKILL', 137]);
  });

  test('a rise of pidsLimitHits on a running instance is a pids-limit event (13.21)', async () => {
    addAgent('agt_a', 1024);
    report('agt_a', [instance('inst_1')]);
    report('agt_a', [instance('inst_1', { pidsLimitHits: 3 })]);
    report('agt_a', [instance('inst_1', { pidsLimitHits: 3 })]);
    const events = (await provider.events('web')).filter((e) => e.type === 'pids-limit');
    assert.deepEqual(events.map((e) => [e.instanceId, e.status]), [['inst_1', 'fork refused at the process limit (3 times since start)']]);
  });

  test('forge_agents_online counts online agents at scrape time', async () => {
    const registry = new Registry();
    registerAgentsOnlineGauge(registry, ts.store);
    addAgent('agt_a', 1024);
    addAgent('agt_b', 1024);
    ts.store.agents.markOffline(0, T0 + 1);
    addAgent('agt_c', 1024);
    assert.match(await registry.metrics(), /^forge_agents_online 1$/m);
  });
});

describe('stop and start (issue 13 item 2)', () => {
  const start: Action = { kind: 'start', key: 'web', instanceId: 'inst_kept', reason: 'service is running; replica 0 is stopped' };

  test('a start runs a stopped instance again on the agent that keeps it, under its id, even when another agent has more room', async () => {
    addAgent('agt_a', 1024);
    addAgent('agt_b', 8192);
    report('agt_a', [instance('inst_kept', { state: 'stopped', health: 'unknown' })]);
    const result = await provider.apply(start, { secrets: {} });
    assert.deepEqual(result, { instanceId: 'inst_kept', message: 'placed on agt_a' });
    const tasks = ts.store.tasks.listActive();
    assert.deepEqual(tasks.map((t) => [t.kind, t.agentId, (t.payload as { instanceId: string }).instanceId]), [['run', 'agt_a', 'inst_kept']]);
    // Until the agent picks it up, the kept instance is on its way up: a second start queues nothing.
    assert.deepEqual((await provider.observe(['web']))[0]!.instances.map((i) => [i.id, i.state, i.agent]), [['inst_kept', 'creating', 'agt_a']]);
    assert.deepEqual(await provider.apply(start, { secrets: {} }), { instanceId: 'inst_kept', message: 'already creating on agt_a' });
    assert.equal(ts.store.tasks.listActive().length, 1);
  });

  test('a kept instance whose agent has no room any more moves: a new instance elsewhere, the stopped one removed', async () => {
    addAgent('agt_a', 512);
    addAgent('agt_b', 2048);
    report('agt_a', [
      instance('inst_kept', { state: 'stopped', health: 'unknown' }),
      instance('inst_other', { service: 'other', reserved: { cpus: 0.5, memoryBytes: 384 * MB } }),
    ]);
    const result = await provider.apply(start, { secrets: {} });
    assert.match(result.instanceId!, /^inst_[0-9a-f]{16}$/);
    assert.notEqual(result.instanceId, 'inst_kept');
    assert.match(result.message!, /^agt_a has no room for it any more: placed on agt_b as inst_/);
    assert.deepEqual(ts.store.tasks.listActive().map((t) => [t.kind, t.agentId, t.payload]), [
      ['run', 'agt_b', { instanceId: result.instanceId, spec, hash, generation: 1, replica: 0 }],
      ['stop', 'agt_a', { instanceId: 'inst_kept', remove: true }],
    ]);
  });

  test('one instance id reported by two agents: the live copy keeps the id, the other is a duplicate removed from its own agent', async () => {
    addAgent('agt_a', 1024);
    addAgent('agt_b', 1024);
    report('agt_a', [instance('inst_x', { state: 'stopped', health: 'unknown' })]);
    report('agt_b', [instance('inst_x')]);
    const [observed] = await provider.observe(['web']);
    assert.deepEqual(observed!.instances.map((i) => [i.id, i.state, i.agent]), [
      ['inst_x', 'running', 'agt_b'],
      ['inst_x@agt_a', 'stopped', 'agt_a'],
    ]);
    await provider.apply({ kind: 'destroy', key: 'web', instanceId: 'inst_x@agt_a', reason: 'duplicate in replica slot 0' }, { secrets: {} });
    assert.deepEqual(ts.store.tasks.listActive().map((t) => [t.kind, t.agentId, t.payload]), [['stop', 'agt_a', { instanceId: 'inst_x', remove: true }]]);
  });
});

describe('stop results (issue 13 item 13)', () => {
  test('a finished keep-stop shows the instance stopped at once, not alive again until the next heartbeat', async () => {
    addAgent('agt_a', 1024);
    report('agt_a', [instance('inst_1')]);
    await provider.apply({ kind: 'stop', key: 'web', instanceId: 'inst_1', reason: 'no room' }, { secrets: {} });
    const task = ts.store.tasks.claim('agt_a', ts.clock.now, 10_000)!;
    provider.hub.taskClaimed(task);
    ts.store.tasks.complete(task.id, 'agt_a', { message: 'stopped' }, true);
    provider.hub.taskCompleted(ts.store.tasks.get(task.id)!, true, { message: 'stopped' });
    assert.deepEqual((await provider.observe(['web']))[0]!.instances.map((i) => [i.id, i.state, i.health]), [['inst_1', 'stopped', 'unknown']]);
  });
});
