// plan() as data: each case states what a pass reads and asserts the whole decision
// (actions, route, release outcome, status, events, requeue, memory) as one value.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { needsPass, plan, planFailure, routeAfter, type Plan, type PlanInput } from '../../reconciler/plan.ts';
import type { Observed, ObservedInstance, ProviderCapabilities } from '../../providers/types.ts';
import { ForgeError } from '../../errors/index.ts';
import { makeDesired, makeInstance, makeSpec } from '../helpers/spec.ts';

const NOW = 1_700_000_000_000;
const AGENT: ProviderCapabilities = { updateInPlace: false, routing: 'forge' };
const FLY: ProviderCapabilities = { updateInPlace: true, routing: 'provider' };
const v1 = makeSpec({ provider: 'agent', domains: ['web.example'] });
const v2 = makeSpec({ provider: 'agent', domains: ['web.example'], image: 'registry.example/web:2' });
const d1 = makeDesired(v1);
const d2 = makeDesired(v2, { generation: 2 });
const observe = (...instances: ObservedInstance[]): Observed => ({ key: 'web', instances });
const at = (address: string) => ({ address });

function input(overrides: Partial<PlanInput>): PlanInput {
  return {
    desired: d1, observed: null, status: null, release: { outcome: 'pending', reason: null }, releaseBad: false, memory: {},
    capabilities: AGENT, router: true, routeUrl: 'http://web.localhost:8088', now: NOW, pollMs: 1_000, drainMs: 2_000,
    ...overrides,
  };
}

/** The plan with the lifecycle snapshot and condition times left out (asserted elsewhere). */
function view(p: Plan) {
  return {
    result: p.result,
    actions: p.actions.map((a) => `${a.kind}${'instanceId' in a && a.instanceId ? ` ${a.instanceId}` : ''}${'replica' in a ? ` /${a.replica}` : ''}`),
    route: p.route?.upstreams ?? null,
    rerouteAfter: p.rerouteAfter,
    draining: p.draining,
    recordRelease: p.recordRelease,
    releaseOutcome: p.releaseOutcome,
    events: [...p.events, ...p.countedEvents].map((e) => e.reason),
    phase: p.status?.status.phase ?? null,
    ready: p.status?.status.conditions.find((c) => c.type === 'Ready')?.reason ?? null,
    requeueAfterMs: p.requeueAfterMs,
    memory: p.memory,
  };
}

/** The status a settled v1 pass stored: later passes of a running service start from it. */
const RUNNING = plan(input({ observed: observe(makeInstance('a', 0, v1, at('127.0.0.1:20000'))) })).status!.status;

const PLAN = {
  result: 'success', actions: [] as string[], route: null, rerouteAfter: false, draining: [] as string[], recordRelease: true,
  releaseOutcome: null, events: [] as string[], requeueAfterMs: 1_000, memory: {},
};

test('first deploy: create every replica, record the release, route once they are observed', () => {
  const p = plan(input({}));
  assert.deepEqual(view(p), { ...PLAN, actions: ['create /0'], rerouteAfter: true, phase: 'creating', ready: 'Creating' });
  assert.equal(p.status?.status.url, 'http://web.localhost:8088');
  const after = observe(makeInstance('a', 0, v1, at('127.0.0.1:20000')));
  assert.deepEqual(routeAfter(input({}), p, after), { domains: ['web.example'], upstreams: ['127.0.0.1:20000'] });
});

test('a settled release: nothing to do, the route serves it, the release succeeds', () => {
  const p = plan(input({ observed: observe(makeInstance('a', 0, v1, at('127.0.0.1:20000'))) }));
  assert.deepEqual(view(p), {
    ...PLAN, result: 'noop', route: ['127.0.0.1:20000'], recordRelease: false, requeueAfterMs: undefined,
    releaseOutcome: { outcome: 'succeeded', reason: null, counted: true }, phase: 'running', ready: 'InstancesReady',
  });
  assert.equal(p.status?.status.observedGeneration, 1);
});

test('surge update: the new instance starts beside the old one, which keeps the route', () => {
  const old = makeInstance('a', 0, v1, at('127.0.0.1:20000'));
  const p = plan(input({ desired: d2, observed: observe(old), status: RUNNING }));
  // An agent cannot update in place: the replacement starts beside the old instance.
  assert.deepEqual(view(p), { ...PLAN, actions: ['replace a /0'], rerouteAfter: true, phase: 'deploying', ready: 'Deploying' });
  const starting = observe(old, makeInstance('b', 0, v2, { ...at('127.0.0.1:20001'), state: 'starting', health: 'unknown' }));
  assert.deepEqual(routeAfter(input({ desired: d2 }), p, starting)?.upstreams, ['127.0.0.1:20000']);
});

test('a release failing health is marked bad, the old one is kept and keeps the route', () => {
  const old = makeInstance('a', 0, v1, at('127.0.0.1:20000'));
  const failed = makeInstance('b', 0, v2, { state: 'failed', health: 'unhealthy', reason: 'health check GET / answered 500' });
  const p = plan(input({ desired: d2, observed: observe(old, failed) }));
  assert.equal(p.badHash, true);
  assert.deepEqual(view(p).releaseOutcome, { outcome: 'failed', reason: 'health check GET / answered 500', counted: true });
  assert.deepEqual(view(p).events, ['ReleaseFailed']);
  assert.ok(!p.actions.some((a) => a.kind === 'destroy' && a.instanceId === 'a'), 'the old instance stays');
  assert.ok(!p.actions.some((a) => a.kind === 'create' || a.kind === 'replace'), 'nothing rolls toward the bad release');
  const route = p.route ?? routeAfter(input({ desired: d2 }), p, observe(old));
  assert.deepEqual(route?.upstreams, ['127.0.0.1:20000']);
});

test('an already-bad release is refused with its reason, terminal, and the old one keeps serving', () => {
  const old = makeInstance('a', 0, v1, at('127.0.0.1:20000'));
  const p = plan(input({ desired: d2, observed: observe(old), releaseBad: true, release: { outcome: 'failed', reason: 'exit 1' } }));
  assert.deepEqual(view(p), {
    ...PLAN, result: 'terminal', route: ['127.0.0.1:20000'], recordRelease: false, requeueAfterMs: undefined, phase: 'failed', ready: 'Refused',
  });
  assert.match(p.status!.status.lastError!.message, /^exit 1; /);
  assert.equal(p.status!.status.lastError!.code, 'E_HEALTH_FAILED');
});

test('CrashLoopBackOff: a provider that counts crashes is waited for, then replaced', () => {
  const crashed = makeInstance('a', 0, v1, { state: 'failed', health: 'unhealthy', restarts: 3, exitedAt: NOW - 1_000 });
  const succeeded = { outcome: 'succeeded' as const, reason: null };
  const waiting = plan(input({ observed: observe(crashed), release: succeeded }));
  assert.deepEqual(view(waiting), {
    ...PLAN, result: 'noop', recordRelease: false, requeueAfterMs: 19_000, phase: 'creating', ready: 'CrashLoopBackOff',
  });
  const later = plan(input({ observed: observe(crashed), release: succeeded, now: NOW + 19_000 }));
  assert.deepEqual(view(later).actions, ['replace a /0']);
});

test('CrashLoopBackOff: for a provider that does not count, the plan counts its own replacements', () => {
  const crashed = makeInstance('a', 0, v1, { state: 'failed', health: 'unhealthy' });
  const succeeded = { outcome: 'succeeded' as const, reason: null };
  const first = plan(input({ observed: observe(crashed), release: succeeded, capabilities: FLY, router: false }));
  assert.deepEqual(view(first).actions, ['replace a /0']);
  assert.deepEqual(first.memory, { crash: { count: 1, lastAt: NOW } });
  const second = plan(input({ observed: observe(crashed), release: succeeded, capabilities: FLY, router: false, memory: first.memory, now: NOW + 1 }));
  assert.deepEqual([second.actions, second.requeueAfterMs, second.memory], [[], 9_999, first.memory]);
  const healthy = plan(input({ observed: observe(makeInstance('b', 0, v1)), release: succeeded, capabilities: FLY, router: false, memory: first.memory }));
  assert.deepEqual(healthy.memory, first.memory, 'a settled pass does not reach the crash decision');
  const fixed = plan(input({ observed: observe(makeInstance('b', 0, v1), makeInstance('c', 1, v1)), release: succeeded, capabilities: FLY, router: false, memory: first.memory }));
  assert.deepEqual(fixed.memory, {}, 'every instance healthy again: the count is forgotten');
});

test('a crash of a release other than the desired one is replaced at once (the fix is not delayed)', () => {
  const crashed = makeInstance('a', 0, v1, { state: 'failed', health: 'unhealthy', restarts: 5, exitedAt: NOW });
  const p = plan(input({ desired: d2, observed: observe(crashed), capabilities: FLY, router: false }));
  assert.deepEqual([view(p).actions, p.requeueAfterMs], [['replace a /0'], 1_000]);
});

test('drain then destroy: the instance leaves the route, the pass after the drain time removes it', () => {
  const deleting = makeDesired(v1, { deleting: true });
  const running = observe(makeInstance('a', 0, v1, at('127.0.0.1:20000')));
  const first = plan(input({ desired: deleting, observed: running }));
  assert.deepEqual(view(first), {
    ...PLAN, recordRelease: false, route: [], draining: ['a'], requeueAfterMs: 2_000,
    memory: { drain: { leaving: ['a'], since: NOW } }, phase: 'destroying', ready: 'Deleting',
  });
  const during = plan(input({ desired: deleting, observed: running, memory: first.memory, now: NOW + 500 }));
  assert.deepEqual([during.actions, during.route?.upstreams, during.requeueAfterMs], [[], [], 1_500]);
  const done = plan(input({ desired: deleting, observed: running, memory: first.memory, now: NOW + 2_000 }));
  assert.deepEqual(view(done), {
    ...PLAN, actions: ['destroy'], recordRelease: false, route: [], rerouteAfter: true, draining: ['a'],
    phase: 'destroying', ready: 'Deleting',
  });
  const gone = plan(input({ desired: deleting, observed: observe() }));
  assert.deepEqual([gone.result, gone.deleteService, gone.actions], ['success', true, []]);
});

test('drain: a new set of leaving instances restarts the drain; no drain time means one pass', () => {
  const two = makeDesired(makeSpec({ provider: 'agent', replicas: 1 }));
  const running = observe(makeInstance('a', 0, two.spec, at('127.0.0.1:20000')), makeInstance('b', 1, two.spec, at('127.0.0.1:20001')));
  const stale = plan(input({ desired: two, observed: running, memory: { drain: { leaving: ['x'], since: NOW - 10_000 } } }));
  assert.deepEqual([stale.actions, stale.memory.drain], [[], { leaving: ['b'], since: NOW }]);
  const quick = plan(input({ desired: two, observed: running, drainMs: 0 }));
  assert.deepEqual([view(quick).actions, quick.route?.upstreams], [['destroy b'], ['127.0.0.1:20000']]);
  const unrouted = plan(input({ desired: two, observed: running, router: false }));
  assert.deepEqual([view(unrouted).actions, unrouted.route, unrouted.draining], [['destroy b'], null, []]);
});

test('rollback: a new generation naming the old spec rolls back to it, even from a crashing release', () => {
  const rollback = makeDesired(v1, { generation: 3 });
  const crashing = makeInstance('b', 0, v2, { state: 'failed', health: 'unhealthy', restarts: 4, exitedAt: NOW });
  const p = plan(input({ desired: rollback, observed: observe(crashing), status: RUNNING }));
  assert.deepEqual(view(p), { ...PLAN, actions: ['replace b /0'], rerouteAfter: true, phase: 'deploying', ready: 'Deploying' });
});

test('stop and start: a stopped service stops its instances and routes nowhere; start starts them', () => {
  const stopped = makeDesired(v1, { state: 'stopped' });
  const running = observe(makeInstance('a', 0, v1, at('127.0.0.1:20000')));
  const stopping = plan(input({ desired: stopped, observed: running, drainMs: 0, release: null }));
  assert.deepEqual(view(stopping), { ...PLAN, actions: ['stop a'], route: [], rerouteAfter: true, draining: ['a'], phase: 'stopped', ready: 'Deploying' });
  const done = plan(input({ desired: stopped, observed: observe(makeInstance('a', 0, v1, { state: 'stopped' })), release: null }));
  assert.deepEqual(view(done), { ...PLAN, result: 'noop', route: [], recordRelease: false, requeueAfterMs: undefined, phase: 'stopped', ready: 'Stopped' });
  const start = plan(input({ observed: observe(makeInstance('a', 0, v1, { state: 'stopped' })), release: null }));
  assert.deepEqual(view(start).actions, ['start a']);
});

test('agent lost: the vanished instance is placed again, the survivor keeps the route', () => {
  const two = makeDesired(makeSpec({ provider: 'agent', replicas: 2 }));
  const survivor = makeInstance('a', 0, two.spec, at('127.0.0.1:20000'));
  const p = plan(input({ desired: two, observed: observe(survivor), status: RUNNING, release: { outcome: 'succeeded', reason: null } }));
  assert.deepEqual(view(p), { ...PLAN, actions: ['create /1'], rerouteAfter: true, phase: 'deploying', ready: 'Deploying' });
  assert.deepEqual(routeAfter(input({ desired: two }), p, observe(survivor))?.upstreams, ['127.0.0.1:20000']);
});

test('provider errors: retryable is retried, terminal and spec-caused fails the release, terminal otherwise does not', () => {
  const base = input({});
  const planned = plan(base);
  const retry = planFailure(base, planned, new ForgeError('E_PROVIDER', 'machines API answered 503'), planned.actions[0], null);
  assert.deepEqual(view(retry), { ...PLAN, result: 'error', events: ['ActionFailed'], requeueAfterMs: undefined, phase: 'creating', ready: 'ProviderError' });
  assert.equal(retry.status?.status.lastError?.code, 'E_PROVIDER');
  const build = planFailure(base, planned, new ForgeError('E_BUILD_FAILED', 'npm ci exited 1', { terminal: true }), planned.actions[0], null);
  assert.deepEqual(view(build), {
    ...PLAN, result: 'terminal', events: ['ActionFailed'], requeueAfterMs: undefined, phase: 'failed', ready: 'Failed',
    releaseOutcome: { outcome: 'failed', reason: 'npm ci exited 1', counted: true },
  });
  const isolation = planFailure(base, planned, new ForgeError('E_ISOLATION_UNAVAILABLE', 'no user namespaces'), planned.actions[0], null);
  assert.deepEqual([isolation.result, isolation.releaseOutcome], ['terminal', null]);
});

test('no room to surge: the replace is retried at once, stop-then-start, with a Rollout condition', () => {
  const old = makeInstance('a', 0, v1, at('127.0.0.1:20000'));
  const base = input({ desired: d2, observed: observe(old) });
  const replace = { kind: 'replace' as const, key: 'web', instanceId: 'a', replica: 0, spec: v2, hash: d2.hash, generation: 2, changed: [], reason: 'x' };
  const full = new ForgeError('E_UNSCHEDULABLE', 'no agent has room', { details: { reason: 'memory' } });
  const p = planFailure(base, plan(base), full, replace, null);
  assert.deepEqual([p.result, p.requeueAfterMs, p.memory, view(p).events], ['success', 0, { surgeBlocked: { hash: d2.hash, reason: 'memory' } }, ['NoRoomToSurge']]);
  assert.equal(p.status?.status.conditions.find((c) => c.type === 'Rollout')?.reason, 'StopThenStart');
  // From then on the old instance stops (out of the route first) before its replacement starts.
  const next = plan({ ...base, memory: p.memory, drainMs: 0 });
  assert.deepEqual([view(next).actions, next.route?.upstreams], [['stop a'], []]);
  assert.deepEqual(plan({ ...base, desired: makeDesired(v1, { generation: 3 }), memory: p.memory }).memory, {}, 'a new spec forgets it');
  const crashedOld = input({ desired: d2, observed: observe({ ...old, state: 'failed' }) });
  assert.equal(planFailure(crashedOld, plan(crashedOld), full, replace, null).result, 'error', 'a dead old instance: no fallback');
});

test('provider not configured: terminal, says which provider, nothing acts', () => {
  const p = plan(input({ capabilities: null }));
  assert.deepEqual([p.result, p.actions, p.error?.code, p.status?.status.phase], ['terminal', [], 'E_COMPUTE_NOT_CONFIGURED', 'failed']);
  assert.match(p.error!.message, /provider agent is not configured/);
});

test('needsPass: the resync queues only keys whose plan is not empty', () => {
  const running = observe(makeInstance('a', 0, v1));
  const settled = { phase: 'running' as const, observedGeneration: 1, errorCode: undefined };
  const ask = (o: Partial<Parameters<typeof needsPass>[0]>) =>
    needsPass({ desired: d1, observed: running, capabilities: AGENT, releaseBad: false, now: NOW, status: settled, ...o });
  assert.equal(ask({}), false);
  assert.equal(ask({ desired: d2 }), true, 'a new spec');
  assert.equal(ask({ status: { ...settled, observedGeneration: 0 } }), true, 'status behind');
  assert.equal(ask({ observed: observe(makeInstance('a', 0, v1, { health: 'unhealthy' })) }), true, 'an unhealthy instance');
  assert.equal(ask({ capabilities: null }), true, 'provider gone');
  assert.equal(ask({ capabilities: null, status: { ...settled, errorCode: 'E_COMPUTE_NOT_CONFIGURED' } }), false);
  assert.equal(ask({ desired: d2, status: { phase: 'failed', observedGeneration: 1, errorCode: 'E_BUILD_FAILED' } }), false, 'waits for a spec change');
  assert.equal(ask({ desired: d2, status: { phase: 'failed', observedGeneration: 1, errorCode: 'E_PROVIDER' } }), true);
  assert.equal(ask({ desired: d2, releaseBad: true, status: { phase: 'running', observedGeneration: 1, errorCode: undefined } }), true, 'bad release not yet failed');
  assert.equal(ask({ desired: d2, releaseBad: true, status: { phase: 'failed', observedGeneration: 2, errorCode: 'E_HEALTH_FAILED' } }), false);
  assert.equal(ask({ observed: undefined, desired: makeDesired(makeSpec({ replicas: 0 })) }), false, 'zero replicas settled');
  assert.equal(ask({ observed: undefined }), true);
});

// Cases the mutation run (npm run test:mutation) showed undecided.

test('a release is good only when every replica of it is ready; zero replicas settle as good', () => {
  const two = makeDesired(makeSpec({ provider: 'agent', replicas: 2 }));
  const half = observe(makeInstance('a', 0, two.spec, at('127.0.0.1:20000')), makeInstance('b', 1, two.spec, { state: 'starting', health: 'unknown' }));
  assert.deepEqual([plan(input({ desired: two, observed: half })).releaseOutcome, plan(input({ desired: two, observed: half })).result], [null, 'noop']);
  const unhealthy = observe(makeInstance('a', 0, two.spec), makeInstance('b', 1, two.spec, { health: 'unhealthy' }));
  assert.equal(plan(input({ desired: two, observed: unhealthy })).releaseOutcome, null);
  const stopped = makeDesired(makeSpec({ provider: 'agent' }), { state: 'stopped' });
  assert.equal(plan(input({ desired: stopped, observed: observe(makeInstance('a', 0, stopped.spec, { state: 'stopped' })) })).releaseOutcome, null);
  const none = makeDesired(makeSpec({ provider: 'agent', replicas: 0 }));
  assert.deepEqual(plan(input({ desired: none, observed: observe() })).releaseOutcome, { outcome: 'succeeded', reason: null, counted: true });
  assert.equal(plan(input({ desired: none, observed: observe(), release: { outcome: 'succeeded', reason: null } })).releaseOutcome, null);
  const waiting = plan(input({ desired: two, observed: half }));
  assert.equal(waiting.requeueAfterMs, 1_000, 'instances still starting: look again after the poll interval');
});

test('a refused release without a recorded reason keeps diff\'s message; a first refusal fails the release uncounted', () => {
  const old = makeInstance('a', 0, v1, at('127.0.0.1:20000'));
  const p = plan(input({ desired: d2, observed: observe(old), releaseBad: true, release: { outcome: 'failed', reason: null } }));
  assert.doesNotMatch(p.status!.status.lastError!.message, /^null/);
  assert.equal(p.releaseOutcome, null, 'already failed: nothing new to record');
  const moved = makeDesired(makeSpec({ provider: 'agent', region: 'fra' }), { generation: 2 });
  const region = plan(input({ desired: moved, observed: observe(makeInstance('a', 0, v1)) }));
  assert.deepEqual([region.result, region.releaseOutcome?.outcome, region.releaseOutcome?.counted], ['terminal', 'failed', false]);
});

test('a release failing is only its own instances: a failed old instance does not mark the new one bad', () => {
  const oldFailed = makeInstance('a', 0, v1, { state: 'failed', health: 'unhealthy' });
  const p = plan(input({ desired: d2, observed: observe(oldFailed) }));
  assert.deepEqual([p.badHash, p.releaseOutcome, p.events], [false, null, []]);
  const deleting = plan(input({ desired: makeDesired(v1, { deleting: true }), observed: observe(makeInstance('a', 0, v1, { state: 'failed' })), router: false }));
  assert.equal(deleting.releaseOutcome, null, 'a service being deleted records no release outcome');
});

test('no room to surge applies only to a replace beside a live old instance', () => {
  const old = makeInstance('a', 0, v1, at('127.0.0.1:20000'));
  const base = input({ desired: d2, observed: observe(old) });
  const planned = plan(base);
  const replace = { kind: 'replace' as const, key: 'web', instanceId: 'a', replica: 0, spec: v2, hash: d2.hash, generation: 2, changed: [], reason: 'x' };
  const full = new ForgeError('E_UNSCHEDULABLE', 'no agent has room');
  const create = { kind: 'create' as const, key: 'web', replica: 1, spec: v2, hash: d2.hash, generation: 2, reason: 'x' };
  assert.equal(planFailure(base, planned, full, create, null).result, 'error', 'a create: nothing old to stop first');
  assert.equal(planFailure(base, planned, new ForgeError('E_PROVIDER', 'x'), replace, null).memory.surgeBlocked, undefined);
  assert.equal(planFailure(base, planned, full, undefined, null).result, 'error');
  for (const state of ['stopped', 'stopping'] as const) {
    const gone = input({ desired: d2, observed: observe({ ...old, state }) });
    assert.equal(planFailure(gone, plan(gone), full, replace, null).result, 'error', state);
  }
  const sick = input({ desired: d2, observed: observe({ ...old, health: 'unhealthy' }) });
  assert.equal(planFailure(sick, plan(sick), full, replace, null).result, 'error');
  const other = input({ desired: d2, observed: observe(makeInstance('z', 0, v1)) });
  assert.equal(planFailure(other, plan(other), full, replace, null).result, 'error', 'the old instance is not observed');
  assert.deepEqual(planFailure(base, planned, full, replace, null).memory.surgeBlocked, { hash: d2.hash, reason: 'no agent has room' });
  const deleting = input({ desired: makeDesired(v2, { deleting: true }), observed: observe(old) });
  assert.equal(planFailure(deleting, plan(deleting), full, replace, null).result, 'error', 'a deletion never falls back');
});

test('needsPass: each settled-or-not question on its own', () => {
  const settled = { phase: 'running' as const, observedGeneration: 1, errorCode: undefined };
  const ask = (o: Partial<Parameters<typeof needsPass>[0]>) =>
    needsPass({ desired: d1, observed: observe(makeInstance('a', 0, v1)), capabilities: AGENT, releaseBad: false, now: NOW, status: settled, ...o });
  assert.equal(ask({ status: { ...settled, phase: 'deploying' } }), true, 'phase not settled');
  assert.equal(ask({ desired: d2, status: { phase: 'failed', observedGeneration: 2, errorCode: 'E_BUILD_FAILED' } }), true, 'failed for this generation: look');
  assert.equal(ask({ status: { phase: 'running', observedGeneration: 0, errorCode: 'E_BUILD_FAILED' } }), true, 'not failed: look');
  assert.equal(ask({ observed: observe(makeInstance('a', 0, v1, { state: 'starting' })) }), true, 'an instance not running');
  const stopped = makeDesired(v1, { state: 'stopped' });
  assert.equal(ask({ desired: stopped, observed: observe(makeInstance('a', 0, v1, { state: 'stopped' })), status: { ...settled, phase: 'stopped' } }), false);
  assert.equal(ask({ desired: stopped, observed: observe(makeInstance('a', 0, v1, { state: 'stopped' })) }), true, 'stopped but status says running');
  assert.equal(ask({ observed: undefined, desired: makeDesired(makeSpec({ replicas: 0 })), status: { ...settled, observedGeneration: 0 } }), true);
  assert.equal(ask({ desired: d2, releaseBad: true, status: { phase: 'failed', observedGeneration: 1, errorCode: 'E_PROVIDER' } }), false, 'bad and already failed');
});

test('routing: only a provider routed by Forge, and only with a router, gets routes and a router URL', () => {
  const running = observe(makeInstance('a', 0, v1, at('127.0.0.1:20000')));
  const fly = plan(input({ observed: running, capabilities: FLY }));
  assert.deepEqual([fly.route, fly.status?.status.url], [null, null]);
  const noRouter = plan(input({ observed: running, router: false }));
  assert.deepEqual([noRouter.route, noRouter.status?.status.url], [null, null]);
  assert.deepEqual(plan(input({ observed: running })).route, { domains: ['web.example'], upstreams: ['127.0.0.1:20000'] });
});

test('drain: an instance not in the route is removed at once, and a drain in progress is kept until it is due', () => {
  const two = makeDesired(makeSpec({ provider: 'agent', replicas: 1 }));
  const sickExtra = observe(makeInstance('a', 0, two.spec, at('127.0.0.1:20000')), makeInstance('b', 1, two.spec, { ...at('127.0.0.1:20001'), health: 'unhealthy' }));
  assert.deepEqual(view(plan(input({ desired: two, observed: sickExtra }))).actions, ['destroy b']);
  const stoppedExtra = observe(makeInstance('a', 0, two.spec, at('127.0.0.1:20000')), makeInstance('b', 1, two.spec, { state: 'starting' }));
  assert.deepEqual(view(plan(input({ desired: two, observed: stoppedExtra }))).actions, ['destroy b']);
  const running = observe(makeInstance('a', 0, two.spec, at('127.0.0.1:20000')), makeInstance('b', 1, two.spec, at('127.0.0.1:20001')));
  const wider = plan(input({ desired: two, observed: running, memory: { drain: { leaving: ['b', 'c'], since: NOW } }, now: NOW + 1 }));
  assert.deepEqual([wider.actions, wider.requeueAfterMs, wider.draining], [[], 1_999, ['b', 'c']]);
});

test('a release whose every replica is ready has succeeded even while the old one is still being retired', () => {
  const old = makeInstance('a', 0, v1, at('127.0.0.1:20000'));
  const fresh = makeInstance('b', 0, v2, at('127.0.0.1:20001'));
  const p = plan(input({ desired: d2, observed: observe(old, fresh), drainMs: 0 }));
  assert.deepEqual([view(p).actions, p.releaseOutcome, p.route?.upstreams], [['destroy a'], { outcome: 'succeeded', reason: null, counted: true }, ['127.0.0.1:20001']]);
  const crashedLater = plan(input({ desired: d2, observed: observe(old, { ...fresh, state: 'failed' }), release: { outcome: 'succeeded', reason: null } }));
  assert.equal(crashedLater.badHash, false, 'a crash after success is restarted, not a fallback');
});

// Survivors of the mutation run (crash-memory reset, needsPass, the drain "covered" check).

test('crash memory is forgotten only once every instance is running and healthy, not while one is still coming up', () => {
  const three = makeDesired(makeSpec({ provider: 'agent', replicas: 3 }));
  const counted = { crash: { count: 2, lastAt: NOW - 60_000 } };
  const flyInput = (...instances: ObservedInstance[]) =>
    input({ desired: three, observed: observe(...instances), release: { outcome: 'succeeded', reason: null }, capabilities: FLY, router: false, memory: counted });
  const healthy = makeInstance('b', 0, three.spec);
  // The replacement of the crashed replica runs but has not passed its health check yet:
  // it may crash again, so the count (and the growing delay) must survive this pass.
  const unproven = makeInstance('c', 1, three.spec, { health: 'unknown' });
  const coming = plan(flyInput(healthy, unproven));
  assert.deepEqual([view(coming).actions, coming.memory], [['create /2'], counted]);
  const starting = plan(flyInput(healthy, makeInstance('c', 1, three.spec, { state: 'starting', health: 'healthy' })));
  assert.deepEqual([view(starting).actions, starting.memory], [['create /2'], counted]);
  const proven = plan(flyInput(healthy, makeInstance('c', 1, three.spec)));
  assert.deepEqual([view(proven).actions, proven.memory], [['create /2'], {}], 'every instance healthy: the count is forgotten');
});

test('needsPass: work for the provider is a pass even when the status and every instance look settled', () => {
  const settled = { phase: 'running' as const, observedGeneration: 1, errorCode: undefined };
  const two = makeDesired(makeSpec({ provider: 'agent', replicas: 2 }));
  const ask = (o: Partial<Parameters<typeof needsPass>[0]>) =>
    needsPass({ desired: two, observed: observe(makeInstance('a', 0, two.spec)), capabilities: AGENT, releaseBad: false, now: NOW, status: settled, ...o });
  assert.equal(ask({}), true, 'a replica missing: create it');
  const both = observe(makeInstance('a', 0, two.spec), makeInstance('b', 1, two.spec));
  assert.equal(ask({ observed: both }), false);
  const oneStarting = observe(makeInstance('a', 0, two.spec), makeInstance('b', 1, two.spec, { state: 'starting', health: 'unknown' }));
  assert.equal(ask({ observed: oneStarting }), true, 'one instance of two not running yet');
  const oneSick = observe(makeInstance('a', 0, two.spec), makeInstance('b', 1, two.spec, { health: 'unhealthy' }));
  assert.equal(ask({ observed: oneSick }), true, 'one instance of two unhealthy');
});

test('drain: a drain remembered for some of the leaving instances does not cover the others; a finished drain is forgotten', () => {
  const one = makeDesired(makeSpec({ provider: 'agent', replicas: 1 }));
  const three = observe(
    makeInstance('a', 0, one.spec, at('127.0.0.1:20000')),
    makeInstance('b', 1, one.spec, at('127.0.0.1:20001')),
    makeInstance('c', 2, one.spec, at('127.0.0.1:20002')),
  );
  // b has drained long enough; c has not drained at all: nothing is removed, both drain from now.
  const partly = plan(input({ desired: one, observed: three, memory: { drain: { leaving: ['b'], since: NOW - 10_000 } } }));
  assert.deepEqual([partly.actions, partly.route?.upstreams, partly.draining, partly.requeueAfterMs, partly.memory],
    [[], ['127.0.0.1:20000'], ['b', 'c'], 2_000, { drain: { leaving: ['b', 'c'], since: NOW } }]);
  // The leaving instances went away by other means and the pass acts on something else: the old
  // drain is not kept to excuse a later removal from draining.
  const growing = makeDesired(makeSpec({ provider: 'agent', replicas: 2 }));
  const acting = plan(input({ desired: growing, observed: observe(makeInstance('a', 0, growing.spec, at('127.0.0.1:20000'))), memory: partly.memory }));
  assert.deepEqual([view(acting).actions, acting.memory], [['create /1'], {}], 'a pass that removes nothing routed forgets the drain');
});

test('status: Progressing is True while converging or waiting, False once settled; a stopped service has observed its generation', () => {
  const progressing = (p: Plan) => {
    const c = p.status!.status.conditions.find((x) => x.type === 'Progressing')!;
    return `${c.status}/${c.reason}`;
  };
  assert.equal(progressing(plan(input({}))), 'True/Converging', 'first deploy');
  const crashed = makeInstance('a', 0, v1, { state: 'failed', health: 'unhealthy', restarts: 3, exitedAt: NOW - 1_000 });
  assert.equal(progressing(plan(input({ observed: observe(crashed), release: { outcome: 'succeeded', reason: null } }))), 'True/Converging', 'CrashLoopBackOff wait');
  assert.equal(progressing(plan(input({ observed: observe(makeInstance('a', 0, v1, at('127.0.0.1:20000'))) }))), 'False/Settled', 'ready');
  const stopped = makeDesired(v1, { state: 'stopped', generation: 4 });
  const done = plan(input({ desired: stopped, observed: observe(makeInstance('a', 0, v1, { state: 'stopped' })), release: null }));
  assert.deepEqual([progressing(done), done.status!.status.observedGeneration], ['False/Settled', 4]);
});

test('a release succeeds per replica slot: two ready instances of one slot are not two replicas, and a healthy instance not yet running is not ready', () => {
  const two = makeDesired(makeSpec({ provider: 'agent', replicas: 2 }));
  const sameSlot = observe(makeInstance('a', 0, two.spec, at('127.0.0.1:20000')), makeInstance('b', 0, two.spec, at('127.0.0.1:20001')));
  assert.equal(plan(input({ desired: two, observed: sameSlot })).releaseOutcome, null);
  const bothSlots = observe(makeInstance('a', 0, two.spec, at('127.0.0.1:20000')), makeInstance('b', 1, two.spec, at('127.0.0.1:20001')));
  assert.deepEqual(plan(input({ desired: two, observed: bothSlots })).releaseOutcome, { outcome: 'succeeded', reason: null, counted: true });
  const one = makeDesired(makeSpec({ provider: 'agent' }));
  const notRunning = observe(makeInstance('a', 0, one.spec, { ...at('127.0.0.1:20000'), state: 'starting', health: 'healthy' }));
  assert.equal(plan(input({ desired: one, observed: notRunning })).releaseOutcome, null);
});
