import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SimulatedClock, transition } from 'xstate';
import { isForgeError } from '../../specs/errors.ts';
import {
  accepts, createLifecycle, initialLifecycle, lifecycleMachine, nextPhase, phaseOf, restoreLifecycle, stepLifecycle,
  type LifecycleEffects, type LifecycleEvent, type LifecycleEventRecord, type MachinePhase, type PhaseRecord,
} from '../../reconciler/lifecycle.ts';

const T0 = 1_700_000_000_000;
const MIN = 60_000;

function clockAt(time: number): SimulatedClock {
  const clock = new SimulatedClock();
  clock.set(time);
  return clock;
}

function recorder() {
  const phases: PhaseRecord[] = [];
  const events: LifecycleEventRecord[] = [];
  const effects: LifecycleEffects = { recordPhase: (r) => phases.push(r), emitEvent: (e) => events.push(e) };
  return { phases, events, effects };
}

test('lifecycle: create → running → deploy → running, with effects in order', () => {
  const clock = clockAt(T0);
  const { phases, events, effects } = recorder();
  const actor = createLifecycle({ generation: 1, now: T0 }, effects, { clock });
  actor.send({ type: 'SUCCEEDED', generation: 1, at: T0 + 1_000 });
  actor.send({ type: 'DEPLOY', generation: 2, at: T0 + 2_000 });
  actor.send({ type: 'SUCCEEDED', generation: 2, at: T0 + 3_000 });
  assert.equal(phaseOf(actor.getSnapshot()), 'running');
  assert.deepEqual(phases, [
    { phase: 'creating', generation: 1, reason: null, code: null, since: T0 },
    { phase: 'running', generation: 1, reason: null, code: null, since: T0 + 1_000 },
    { phase: 'deploying', generation: 2, reason: null, code: null, since: T0 + 2_000 },
    { phase: 'running', generation: 2, reason: null, code: null, since: T0 + 3_000 },
  ]);
  assert.deepEqual(events.map((e) => [e.type, e.reason, e.message]), [
    ['Normal', 'PhaseCreating', 'creating generation 1'],
    ['Normal', 'PhaseRunning', 'running generation 1'],
    ['Normal', 'PhaseDeploying', 'deploying generation 2'],
    ['Normal', 'PhaseRunning', 'running generation 2'],
  ]);
  actor.stop();
});

const at = T0;
const transitions: Array<[MachinePhase, LifecycleEvent, MachinePhase]> = [
  ['creating', { type: 'SUCCEEDED', at }, 'running'],
  ['creating', { type: 'FAIL', reason: 'build failed', code: 'E_BUILD_FAILED', at }, 'failed'],
  ['creating', { type: 'STOP', at }, 'stopped'],
  ['creating', { type: 'START', at }, 'creating'],
  ['deploying', { type: 'SUCCEEDED', at }, 'running'],
  ['deploying', { type: 'SUCCEEDED', generation: 0, at }, 'deploying'],
  ['deploying', { type: 'DELETE', at }, 'destroying'],
  ['running', { type: 'DEPLOY', generation: 2, at }, 'deploying'],
  ['running', { type: 'DEPLOY', generation: 1, at }, 'running'],
  ['running', { type: 'PROGRESS', message: 'replacing replica 0', at }, 'deploying'],
  ['running', { type: 'STOP', at }, 'stopped'],
  ['running', { type: 'STOPPED', at }, 'stopped'],
  ['running', { type: 'GONE', at }, 'running'],
  ['running', { type: 'FAIL', reason: 'oom', at }, 'failed'],
  ['stopped', { type: 'START', at }, 'deploying'],
  ['stopped', { type: 'DEPLOY', generation: 2, at }, 'stopped'],
  ['stopped', { type: 'SUCCEEDED', at }, 'stopped'],
  ['failed', { type: 'SUCCEEDED', at }, 'running'],
  ['failed', { type: 'DEPLOY', generation: 2, at }, 'deploying'],
  ['failed', { type: 'DELETE', at }, 'destroying'],
  ['failed', { type: 'TICK', at: at + 100 * MIN }, 'failed'],
  ['destroying', { type: 'GONE', at }, 'destroyed'],
  ['destroying', { type: 'FAIL', reason: 'provider refused', at }, 'failed'],
  ['destroying', { type: 'START', at }, 'destroying'],
  ['destroying', { type: 'DEPLOY', generation: 2, at }, 'destroying'],
  ['destroying', { type: 'SUCCEEDED', at }, 'destroying'],
  ['destroying', { type: 'STOP', at }, 'destroying'],
  ['destroying', { type: 'PROGRESS', message: 'x', at }, 'destroying'],
  ['destroying', { type: 'DELETE', at }, 'destroying'],
  ['destroyed', { type: 'DEPLOY', generation: 2, at }, 'destroyed'],
];

for (const [from, event, to] of transitions) {
  test(`lifecycle: ${from} + ${event.type}${'generation' in event ? `(${event.generation})` : ''} → ${to}`, () => {
    assert.equal(nextPhase(from, event, { generation: 1, since: T0 }), to);
  });
}

test('lifecycle: failed carries reason and code; the next success clears them', () => {
  const { phases, events, effects } = recorder();
  const actor = createLifecycle({ generation: 1, now: T0 }, effects, { clock: clockAt(T0) });
  actor.send({ type: 'FAIL', reason: 'health check /health returned 503 three times', code: 'E_HEALTH_FAILED', at: T0 + 5 });
  assert.equal(actor.getSnapshot().context.reason, 'health check /health returned 503 three times');
  assert.equal(actor.getSnapshot().context.code, 'E_HEALTH_FAILED');
  assert.deepEqual(events.at(-1), {
    type: 'Warning', reason: 'PhaseFailed', message: 'health check /health returned 503 three times', time: T0 + 5,
  });
  actor.send({ type: 'SUCCEEDED', at: T0 + 9 });
  assert.deepEqual(phases.at(-1), { phase: 'running', generation: 1, reason: null, code: null, since: T0 + 9 });
  actor.stop();
});

test('lifecycle: PROGRESS updates the reason without moving the deadline', () => {
  const { phases, effects } = recorder();
  const actor = createLifecycle({ generation: 1, now: T0 }, effects, { clock: clockAt(T0) });
  actor.send({ type: 'PROGRESS', message: 'building: npm ci', at: T0 + MIN });
  assert.deepEqual(phases.at(-1), { phase: 'creating', generation: 1, reason: 'building: npm ci', code: null, since: T0 });
  actor.stop();
});

test('lifecycle: creating times out into failed on the simulated clock', () => {
  const clock = clockAt(T0);
  const { phases, effects } = recorder();
  const actor = createLifecycle({ generation: 1, now: T0 }, effects, { clock });
  clock.increment(10 * MIN - 1);
  assert.equal(phaseOf(actor.getSnapshot()), 'creating');
  clock.increment(1);
  assert.equal(phaseOf(actor.getSnapshot()), 'failed');
  assert.deepEqual(phases.at(-1), {
    phase: 'failed', generation: 1, reason: 'creating did not finish within 10m', code: 'E_TIMEOUT', since: T0 + 10 * MIN,
  });
  actor.stop();
});

test('lifecycle: the deploy timeout is configurable and a new generation restarts it', () => {
  const clock = clockAt(T0);
  const actor = createLifecycle({ generation: 1, now: T0, pendingTimeoutMs: 90_000 }, {}, { clock });
  actor.send({ type: 'SUCCEEDED', at: T0 });
  actor.send({ type: 'DEPLOY', generation: 2, at: T0 });
  clock.increment(60_000);
  actor.send({ type: 'DEPLOY', generation: 3, at: clock.now() });
  clock.increment(89_999);
  assert.equal(phaseOf(actor.getSnapshot()), 'deploying');
  clock.increment(1);
  assert.equal(phaseOf(actor.getSnapshot()), 'failed');
  assert.equal(actor.getSnapshot().context.reason, 'deploying did not finish within 1m30s');
  actor.stop();
});

test('lifecycle: a stuck destroy fails, DELETE re-enters destroying, GONE finishes', () => {
  const clock = clockAt(T0);
  const actor = createLifecycle({ generation: 1, now: T0 }, {}, { clock });
  actor.send({ type: 'SUCCEEDED', at: T0 });
  actor.send({ type: 'DELETE', at: T0 });
  clock.increment(5 * MIN);
  assert.equal(phaseOf(actor.getSnapshot()), 'failed');
  assert.equal(actor.getSnapshot().context.reason, 'destroy did not finish within 5m');
  actor.send({ type: 'DELETE', at: clock.now() });
  assert.equal(phaseOf(actor.getSnapshot()), 'destroying');
  actor.send({ type: 'GONE', at: clock.now() });
  assert.equal(phaseOf(actor.getSnapshot()), 'destroyed');
  assert.equal(actor.getSnapshot().status, 'done');
});

test('lifecycle: restore from a JSON snapshot in deploying and continue to running', () => {
  const clock = clockAt(T0);
  const first = createLifecycle({ generation: 1, now: T0 }, {}, { clock });
  first.send({ type: 'SUCCEEDED', at: T0 });
  first.send({ type: 'DEPLOY', generation: 2, at: T0 + 1_000 });
  const stored = JSON.stringify(first.getPersistedSnapshot());
  first.stop();

  const { phases, effects } = recorder();
  const restored = restoreLifecycle(JSON.parse(stored), effects, { clock: clockAt(T0 + 2_000) });
  assert.equal(phaseOf(restored.getSnapshot()), 'deploying');
  assert.deepEqual(phases, [], 'restoring does not repeat the effects of the phase already entered');
  restored.send({ type: 'SUCCEEDED', generation: 2, at: T0 + 3_000 });
  assert.deepEqual(phases, [{ phase: 'running', generation: 2, reason: null, code: null, since: T0 + 3_000 }]);
  restored.stop();
});

test('lifecycle: a restored creating snapshot still times out, for the time that was left', () => {
  const before = clockAt(T0);
  const first = createLifecycle({ generation: 1, now: T0 }, {}, { clock: before });
  before.increment(4 * MIN);
  const stored = JSON.parse(JSON.stringify(first.getPersistedSnapshot()));
  first.stop();

  const after = clockAt(T0 + 4 * MIN); // the control plane restarts at once
  const restored = restoreLifecycle(stored, {}, { clock: after });
  after.increment(6 * MIN - 1);
  assert.equal(phaseOf(restored.getSnapshot()), 'creating');
  after.increment(1);
  assert.equal(phaseOf(restored.getSnapshot()), 'failed');
  assert.equal(restored.getSnapshot().context.since, T0 + 10 * MIN);
  restored.stop();
});

test('lifecycle: a snapshot restored after its deadline fails at once', () => {
  const stored = initialLifecycle({ generation: 1, now: T0 }).persisted;
  const restored = restoreLifecycle(stored, {}, { clock: clockAt(T0 + 60 * MIN) });
  assert.equal(phaseOf(restored.getSnapshot()), 'failed');
  assert.equal(restored.getSnapshot().context.reason, 'creating did not finish within 10m');
  restored.stop();
});

test('lifecycle: pure steps give JSON snapshots and the effects to perform; TICK fails a stuck phase', () => {
  const init = initialLifecycle({ generation: 1, now: T0 });
  assert.deepEqual(init.persisted, JSON.parse(JSON.stringify(init.persisted)));
  assert.deepEqual(init.effects.map((e) => e.kind), ['recordPhase', 'emitEvent']);

  const early = stepLifecycle(init.persisted, { type: 'TICK', at: T0 + 10 * MIN - 1 });
  assert.equal(early.phase, 'creating');
  assert.deepEqual(early.effects, []);

  const late = stepLifecycle(JSON.stringify(init.persisted), { type: 'TICK', at: T0 + 11 * MIN });
  assert.equal(late.phase, 'failed');
  assert.deepEqual(late.effects, [
    { kind: 'recordPhase', record: { phase: 'failed', generation: 1, reason: 'creating did not finish within 10m', code: 'E_TIMEOUT', since: T0 + 10 * MIN } },
    { kind: 'emitEvent', event: { type: 'Warning', reason: 'PhaseFailed', message: 'creating did not finish within 10m', time: T0 + 10 * MIN } },
  ]);
});

test('lifecycle: impossible moves are refused and leave the snapshot unchanged', () => {
  const destroying = stepLifecycle(initialLifecycle({ generation: 1, now: T0 }).persisted, { type: 'DELETE', at: T0 }).persisted;
  for (const event of [
    { type: 'START', at: T0 }, { type: 'DEPLOY', generation: 5, at: T0 }, { type: 'STOP', at: T0 },
  ] satisfies LifecycleEvent[]) {
    assert.equal(accepts(destroying, event), false, event.type);
    const step = stepLifecycle(destroying, event);
    assert.deepEqual([step.phase, step.effects, step.persisted.context], ['destroying', [], destroying.context]);
  }
  assert.equal(accepts(destroying, { type: 'GONE', at: T0 }), true);
  assert.equal(accepts(destroying, { type: 'FAIL', reason: 'x', at: T0 }), true);
});

test('lifecycle: an unreadable stored snapshot is an E_STORE error', () => {
  for (const junk of [null, 'not json', { value: 'sideways', context: {} }, { status: 'active', value: 'running' }]) {
    assert.throws(() => restoreLifecycle(junk), (err: unknown) => isForgeError(err) && err.code === 'E_STORE');
  }
});

test('lifecycle: the pure step\'s shortcut for ignored events agrees with a full xstate transition', () => {
  const phases: MachinePhase[] = ['creating', 'deploying', 'running', 'stopped', 'failed', 'destroying'];
  const events: LifecycleEvent[] = [
    { type: 'DEPLOY', generation: 1, at: T0 + 1 }, { type: 'DEPLOY', generation: 3, at: T0 + 1 },
    { type: 'SUCCEEDED', at: T0 + 1 }, { type: 'SUCCEEDED', generation: 1, at: T0 + 1 },
    { type: 'STOP', at: T0 + 1 }, { type: 'STOPPED', at: T0 + 1 }, { type: 'START', at: T0 + 1 },
    { type: 'FAIL', reason: 'r', code: 'E_PROVIDER', at: T0 + 1 }, { type: 'PROGRESS', message: 'm', at: T0 + 1 },
    { type: 'DELETE', at: T0 + 1 }, { type: 'GONE', at: T0 + 1 },
    { type: 'TICK', at: T0 + 1 }, { type: 'TICK', at: T0 + 5 * MIN }, { type: 'TICK', at: T0 + 10 * MIN },
  ];
  const base = initialLifecycle({ generation: 2, now: T0 }).persisted;
  for (const value of phases) {
    const context = { ...base.context, reason: value === 'failed' ? 'earlier' : null };
    const resolved = lifecycleMachine.resolveState({ value, context });
    const persisted = JSON.parse(JSON.stringify(lifecycleMachine.getPersistedSnapshot(resolved)));
    for (const event of events) {
      const [full] = transition(lifecycleMachine, resolved, event);
      const step = stepLifecycle(persisted, event);
      assert.deepEqual([step.phase, step.persisted.context], [phaseOf(full), full.context], `${value} + ${JSON.stringify(event)}`);
    }
  }
});
