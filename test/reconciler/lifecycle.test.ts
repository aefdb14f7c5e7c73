// The lifecycle machine through its one pure step: snapshots in, snapshots and the
// effects to record out. It records status; plan() decides what runs.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { transition } from 'xstate';
import { isForgeError } from '../../errors/index.ts';
import {
  initialLifecycle, lifecycleMachine, phaseOf, stepLifecycle,
  type LifecycleEffect, type LifecycleEvent, type LifecycleInput, type MachinePhase, type PersistedLifecycle,
} from '../../reconciler/lifecycle.ts';

const T0 = 1_700_000_000_000;
const MIN = 60_000;

/** A new lifecycle with `events` applied in order; every effect recorded. */
function run(events: LifecycleEvent[], input: LifecycleInput = { generation: 1, now: T0 }) {
  const init = initialLifecycle(input);
  let persisted: PersistedLifecycle = init.persisted;
  const effects: LifecycleEffect[] = [...init.effects];
  for (const event of events) {
    const step = stepLifecycle(persisted, event);
    persisted = step.persisted;
    effects.push(...step.effects);
  }
  const phases = effects.flatMap((e) => (e.kind === 'recordPhase' ? [e.record] : []));
  const emitted = effects.flatMap((e) => (e.kind === 'emitEvent' ? [e.event] : []));
  return { persisted, phase: phaseOf(persisted), phases, events: emitted };
}

/** A persisted snapshot sitting in `phase` (generation 1 since T0). */
function inPhase(phase: MachinePhase): PersistedLifecycle {
  const base = initialLifecycle({ generation: 1, now: T0 }).persisted;
  const resolved = lifecycleMachine.resolveState({ value: phase, context: base.context });
  return JSON.parse(JSON.stringify(lifecycleMachine.getPersistedSnapshot(resolved))) as PersistedLifecycle;
}

test('lifecycle: create → running → deploy → running, with effects in order', () => {
  const { phase, phases, events } = run([
    { type: 'SUCCEEDED', generation: 1, at: T0 + 1_000 },
    { type: 'DEPLOY', generation: 2, at: T0 + 2_000 },
    { type: 'SUCCEEDED', generation: 2, at: T0 + 3_000 },
  ]);
  assert.equal(phase, 'running');
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
    assert.equal(stepLifecycle(inPhase(from), event).phase, to);
  });
}

test('lifecycle: failed carries reason and code; the next success clears them', () => {
  const failed = run([{ type: 'FAIL', reason: 'health check /health returned 503 three times', code: 'E_HEALTH_FAILED', at: T0 + 5 }]);
  assert.equal(failed.persisted.context.reason, 'health check /health returned 503 three times');
  assert.equal(failed.persisted.context.code, 'E_HEALTH_FAILED');
  assert.deepEqual(failed.events.at(-1), {
    type: 'Warning', reason: 'PhaseFailed', message: 'health check /health returned 503 three times', time: T0 + 5,
  });
  const again = stepLifecycle(failed.persisted, { type: 'SUCCEEDED', at: T0 + 9 });
  assert.deepEqual(again.effects[0], { kind: 'recordPhase', record: { phase: 'running', generation: 1, reason: null, code: null, since: T0 + 9 } });
});

test('lifecycle: PROGRESS updates the reason without moving the deadline', () => {
  const { phases } = run([{ type: 'PROGRESS', message: 'building: npm ci', at: T0 + MIN }]);
  assert.deepEqual(phases.at(-1), { phase: 'creating', generation: 1, reason: 'building: npm ci', code: null, since: T0 });
});

test('lifecycle: creating fails when a pass finds its deadline passed', () => {
  assert.equal(run([{ type: 'TICK', at: T0 + 10 * MIN - 1 }]).phase, 'creating');
  const late = run([{ type: 'TICK', at: T0 + 10 * MIN + 30_000 }]);
  assert.equal(late.phase, 'failed');
  assert.deepEqual(late.phases.at(-1), {
    phase: 'failed', generation: 1, reason: 'creating did not finish within 10m', code: 'E_TIMEOUT', since: T0 + 10 * MIN,
  });
});

test('lifecycle: the deploy timeout is configurable and a new generation restarts it', () => {
  const input = { generation: 1, now: T0, pendingTimeoutMs: 90_000 };
  const deploying: LifecycleEvent[] = [
    { type: 'SUCCEEDED', at: T0 }, { type: 'DEPLOY', generation: 2, at: T0 }, { type: 'DEPLOY', generation: 3, at: T0 + 60_000 },
  ];
  assert.equal(run([...deploying, { type: 'TICK', at: T0 + 60_000 + 89_999 }], input).phase, 'deploying');
  const late = run([...deploying, { type: 'TICK', at: T0 + 60_000 + 90_000 }], input);
  assert.equal(late.phase, 'failed');
  assert.equal(late.persisted.context.reason, 'deploying did not finish within 1m30s');
});

test('lifecycle: a stuck destroy fails, DELETE re-enters destroying, GONE finishes', () => {
  const stuck = run([{ type: 'SUCCEEDED', at: T0 }, { type: 'DELETE', at: T0 }, { type: 'TICK', at: T0 + 5 * MIN }]);
  assert.equal(stuck.phase, 'failed');
  assert.equal(stuck.persisted.context.reason, 'destroy did not finish within 5m');
  const again = stepLifecycle(stuck.persisted, { type: 'DELETE', at: T0 + 5 * MIN });
  assert.equal(again.phase, 'destroying');
  const gone = stepLifecycle(again.persisted, { type: 'GONE', at: T0 + 5 * MIN });
  assert.equal(gone.phase, 'destroyed');
  assert.equal(gone.persisted.status, 'done');
});

test('lifecycle: a snapshot read back from JSON continues where it was, without repeating effects', () => {
  const deploying = run([{ type: 'SUCCEEDED', at: T0 }, { type: 'DEPLOY', generation: 2, at: T0 + 1_000 }]).persisted;
  const stored = JSON.stringify(deploying);
  const idle = stepLifecycle(stored, { type: 'TICK', at: T0 + 2_000 });
  assert.deepEqual([idle.phase, idle.effects], ['deploying', []], 'reading a snapshot back does not repeat the phase entry');
  const done = stepLifecycle(stored, { type: 'SUCCEEDED', generation: 2, at: T0 + 3_000 });
  assert.deepEqual(done.effects[0], { kind: 'recordPhase', record: { phase: 'running', generation: 2, reason: null, code: null, since: T0 + 3_000 } });
});

test('lifecycle: a snapshot stored before its deadline fails at the first pass after it', () => {
  const stored = initialLifecycle({ generation: 1, now: T0 }).persisted;
  const step = stepLifecycle(stored, { type: 'TICK', at: T0 + 60 * MIN });
  assert.equal(step.phase, 'failed');
  assert.equal(step.persisted.context.reason, 'creating did not finish within 10m');
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
    const step = stepLifecycle(destroying, event);
    assert.deepEqual([step.phase, step.effects, step.persisted.context], ['destroying', [], destroying.context]);
  }
  assert.equal(stepLifecycle(destroying, { type: 'GONE', at: T0 }).phase, 'destroyed');
  assert.equal(stepLifecycle(destroying, { type: 'FAIL', reason: 'x', at: T0 }).phase, 'failed');
});

test('lifecycle: an unreadable stored snapshot is an E_STORE error', () => {
  for (const junk of [null, 'not json', { value: 'sideways', context: {} }, { status: 'active', value: 'running' }]) {
    assert.throws(() => stepLifecycle(junk, { type: 'TICK', at: T0 }), (err: unknown) => isForgeError(err) && err.code === 'E_STORE');
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
