// The release phase in plan(): a table of what one pass reads (the spec's release command,
// the stored run of this generation, what is observed) and what it decides.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { plan, type PlanInput } from '../../reconciler/plan.ts';
import { releaseCommandOutcome, type ReleaseCommandView } from '../../reconciler/release-phase.ts';
import type { Observed, ObservedInstance, ProviderCapabilities } from '../../providers/types.ts';
import { makeDesired, makeInstance, makeSpec } from '../helpers/spec.ts';

const NOW = 1_700_000_000_000;
const AGENT: ProviderCapabilities = { updateInPlace: false, routing: 'forge', runsSource: true, oneOffs: true };
const NO_ONE_OFFS: ProviderCapabilities = { updateInPlace: true, routing: 'provider' };
const release = { command: './migrate', timeoutMs: 60_000 };
const v1 = makeSpec({ provider: 'agent', release });
const v2 = makeSpec({ provider: 'agent', release, image: 'registry.example/web:2' });
const plain2 = makeSpec({ provider: 'agent', image: 'registry.example/web:2' });
const d1 = makeDesired(v1);
const d2 = makeDesired(v2, { generation: 2 });
const observe = (...instances: ObservedInstance[]): Observed => ({ key: 'web', instances });
const old = makeInstance('a', 0, v1, { address: '127.0.0.1:20000' });
const STARTED = '2026-12-03T14:00:00.000Z';
const run = (state: ReleaseCommandView['state'], extra: Partial<ReleaseCommandView> = {}): ReleaseCommandView => ({
  state, exitCode: null, reason: null, startedAt: STARTED, inFlight: false, ...extra,
});

function input(overrides: Partial<PlanInput>): PlanInput {
  return {
    desired: d2, observed: observe(old), status: RUNNING, release: { outcome: 'pending', reason: null }, releaseBad: false, memory: {},
    capabilities: AGENT, router: true, routeUrl: 'http://web.localhost:8088', now: NOW, pollMs: 1_000, drainMs: 2_000,
    releaseCommand: null, ...overrides,
  };
}

/** The status a settled v1 pass stored (v1 already ran): later passes start from it. */
const RUNNING = plan({
  desired: d1, observed: observe(old), status: null, release: { outcome: 'pending', reason: null }, releaseBad: false, memory: {},
  capabilities: AGENT, router: true, routeUrl: null, now: NOW, pollMs: 1_000, drainMs: 2_000, releaseCommand: { state: 'succeeded', exitCode: 0, reason: null, startedAt: '', inFlight: false },
}).status!.status;

function view(p: ReturnType<typeof plan>) {
  return {
    result: p.result,
    actions: p.actions.map((a) => a.kind),
    route: p.route?.upstreams ?? null,
    command: p.releaseCommand ? `${p.releaseCommand.command} g${p.releaseCommand.generation} ${p.releaseCommand.timeoutMs}ms` : null,
    unknown: p.releaseCommandUnknown !== null,
    outcome: p.releaseOutcome?.outcome ?? null,
    events: p.events.map((e) => e.reason),
    badHash: p.badHash,
    phase: p.status?.status.phase ?? null,
    requeueAfterMs: p.requeueAfterMs,
  };
}

const cases: { name: string; input: Partial<PlanInput>; want: ReturnType<typeof view> }[] = [
  {
    name: 'new release, command not run yet: run it, no rollout, the route stays on the old release',
    input: {},
    want: { result: 'success', actions: [], route: ['127.0.0.1:20000'], command: './migrate g2 60000ms', unknown: false, outcome: null, events: [], badHash: false, phase: 'deploying', requeueAfterMs: 0 },
  },
  {
    name: 'first release, nothing runs yet: the command runs before the first instance',
    input: { desired: d1, observed: null, status: null },
    want: { result: 'success', actions: [], route: [], command: './migrate g1 60000ms', unknown: false, outcome: null, events: [], badHash: false, phase: 'creating', requeueAfterMs: 0 },
  },
  {
    name: 'command succeeded: the rollout proceeds (replace beside the old one)',
    input: { releaseCommand: run('succeeded', { exitCode: 0 }) },
    want: { result: 'success', actions: ['replace'], route: null, command: null, unknown: false, outcome: null, events: [], badHash: false, phase: 'deploying', requeueAfterMs: 1_000 },
  },
  {
    name: 'command running in this control plane: wait, route unchanged',
    input: { releaseCommand: run('started', { inFlight: true }) },
    want: { result: 'noop', actions: [], route: ['127.0.0.1:20000'], command: null, unknown: false, outcome: null, events: [], badHash: false, phase: 'deploying', requeueAfterMs: 1_000 },
  },
  {
    name: 'command failed: the release is bad, the old release keeps serving, nothing is rolled out',
    input: { releaseCommand: run('failed', { exitCode: 3, reason: 'the release command exited with code 3' }) },
    want: { result: 'terminal', actions: [], route: ['127.0.0.1:20000'], command: null, unknown: false, outcome: 'failed', events: ['ReleaseCommandFailed'], badHash: true, phase: 'failed', requeueAfterMs: undefined },
  },
  {
    name: 'started with no result and not running here: MAY have run → reported (recorded unknown, release bad), never started again',
    input: { releaseCommand: run('started') },
    want: { result: 'terminal', actions: [], route: ['127.0.0.1:20000'], command: null, unknown: true, outcome: 'failed', events: ['ReleaseCommandFailed'], badHash: true, phase: 'failed', requeueAfterMs: undefined },
  },
  {
    name: 'a later pass of a bad release: still nothing rolled out, no second failure counted',
    input: { releaseCommand: run('unknown', { reason: 'may have run' }), release: { outcome: 'failed', reason: 'may have run' }, releaseBad: true },
    want: { result: 'terminal', actions: [], route: ['127.0.0.1:20000'], command: null, unknown: false, outcome: null, events: [], badHash: true, phase: 'failed', requeueAfterMs: undefined },
  },
  {
    name: 'a spec without release: rolls out as always',
    input: { desired: makeDesired(plain2, { generation: 2 }) },
    want: { result: 'success', actions: ['replace'], route: null, command: null, unknown: false, outcome: null, events: [], badHash: false, phase: 'deploying', requeueAfterMs: 1_000 },
  },
  {
    name: 'nothing to roll out (the release already runs): the command is not run',
    input: { desired: d1, observed: observe(old), releaseCommand: null },
    want: { result: 'noop', actions: [], route: ['127.0.0.1:20000'], command: null, unknown: false, outcome: 'succeeded', events: [], badHash: false, phase: 'running', requeueAfterMs: undefined },
  },
  {
    name: 'a provider without one-offs: refused (never rolled out without its command)',
    input: { capabilities: NO_ONE_OFFS, router: false },
    want: { result: 'terminal', actions: [], route: null, command: null, unknown: false, outcome: 'failed', events: [], badHash: false, phase: 'failed', requeueAfterMs: undefined },
  },
];

for (const c of cases) {
  test(`release phase: ${c.name}`, () => {
    assert.deepEqual(view(plan(input(c.input))), c.want);
  });
}

test('a failed command says its exit code and last lines; a may-have-run says so and how to retry', () => {
  const failed = plan(input({ releaseCommand: run('failed', { exitCode: 3, reason: 'the release command exited with code 3; last output: boom' }) }));
  assert.match(failed.events[0]!.message, /generation 2 failed: the release command exited with code 3; last output: boom; the previous release keeps serving/);
  const unknown = plan(input({ releaseCommand: run('started') }));
  assert.match(unknown.releaseCommandUnknown!, /may have run: it started at 2026-12-03T14:00:00.000Z and no result was recorded/);
  assert.match(unknown.releaseCommandUnknown!, /never runs it a second time on its own/);
  assert.match(unknown.releaseCommandUnknown!, /forge restart web/);
  assert.equal(unknown.status?.status.lastError?.code, 'E_HEALTH_FAILED');
});

test('a finished run is recorded by its exit: 0 succeeds, others fail with code and output, a lost one may have run', () => {
  assert.deepEqual(releaseCommandOutcome({ exitCode: 0, lastLines: ['ok'], message: 'exited' }, 1_000), { state: 'succeeded', reason: null });
  assert.deepEqual(releaseCommandOutcome({ exitCode: 2, lastLines: ['a', 'b'], message: 'exited' }, 1_000),
    { state: 'failed', reason: 'the release command exited with code 2; last output: a | b' });
  assert.deepEqual(releaseCommandOutcome({ exitCode: null, timedOut: true, lastLines: [], message: 'killed' }, 90_000),
    { state: 'failed', reason: 'the release command timed out after 90 s' });
  assert.equal(releaseCommandOutcome({ exitCode: null, mayHaveRun: true, lastLines: [], message: 'its agent was lost' }, 1_000).state, 'unknown');
});
