// The scheduler over a real SQLite store with an injected clock (no agent: the tests play the
// agent by completing the tasks it queues). Asserts the rows, the cursor and the tasks.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { createJobScheduler } from '../../reconciler/jobs/scheduler.ts';
import { createJobMetrics, jobSamples } from '../../reconciler/jobs/metrics.ts';
import { openStore, type Store } from '../../store/index.ts';
import { SPEC_DEFAULTS, type JobSpec } from '../../specs/types.ts';
import { makeSpec } from '../helpers/spec.ts';

const T0 = Date.parse('2026-06-01T10:00:30Z');

function setup(job: Partial<JobSpec> = {}) {
  let now = T0;
  const store = openStore(':memory:', { clock: () => now });
  const spec = makeSpec({ name: 'web', jobs: [{ name: 'tick', schedule: '* * * * *', command: 'echo hi', ...SPEC_DEFAULTS.job, ...job }] });
  store.services.upsert({ name: 'web', spec, hash: 'h1', source: 'test' });
  const registry = new Registry();
  const metrics = createJobMetrics(registry, () => jobSamples(store, now, false));
  const scheduler = createJobScheduler({ store, clock: () => now, metrics });
  return { store, scheduler, registry, at: (iso: string) => { now = Date.parse(`2026-06-01T${iso}Z`); } };
}

const rows = (store: Store) => store.jobs.list('web', 'tick').map((r) => `${new Date(r.scheduledMs).toISOString().slice(11, 19)} ${r.state}`).reverse();

/** Plays the agent: claims every queued job task and reports `exitCode`. */
function agentFinishes(store: Store, exitCode: number, now: number) {
  for (let task = store.tasks.claim('agent-1', now, 30_000); task; task = store.tasks.claim('agent-1', now, 30_000)) {
    store.tasks.start(task.id, 'agent-1', now, 30_000);
    store.tasks.complete(task.id, 'agent-1', { exitCode, startedAt: now }, exitCode === 0);
  }
}

test('scheduler: first sight sets the cursor; each tick then gets one row and one task; a repeated pass adds nothing', () => {
  const { store, scheduler, at } = setup();
  scheduler.pass();
  assert.equal(store.jobs.cursor('web', 'tick'), T0);
  assert.deepEqual(rows(store), []);
  at('10:01:00');
  scheduler.pass();
  scheduler.pass();
  assert.deepEqual(rows(store), ['10:01:00 pending']);
  const tasks = store.tasks.listActive();
  assert.equal(tasks.length, 1);
  assert.equal(tasks[0]!.kind, 'job');
  assert.equal(tasks[0]!.id, store.jobs.list('web', 'tick')[0]!.taskId);
});

test('scheduler: a run ends with its task; metrics count it and the last success', async () => {
  const { store, scheduler, at, registry } = setup();
  scheduler.pass();
  at('10:01:00');
  scheduler.pass();
  agentFinishes(store, 0, Date.parse('2026-06-01T10:01:01Z'));
  at('10:01:02');
  scheduler.pass();
  assert.deepEqual(rows(store), ['10:01:00 succeeded']);
  assert.equal(store.jobs.list('web', 'tick')[0]!.exitCode, 0);
  const text = await registry.metrics();
  assert.match(text, /forge_job_runs_total\{job="web\/tick",result="succeeded"\} 1/);
  assert.match(text, /forge_job_last_success_timestamp_seconds\{job="web\/tick"\} 1780308060/);
  assert.match(text, /forge_job_interval_seconds\{job="web\/tick"\} 60/);
});

test('scheduler: a job task is never handed out twice; a run whose agent vanished is lost, not rerun', () => {
  const { store, scheduler, at } = setup();
  scheduler.pass();
  at('10:01:00');
  scheduler.pass();
  const now = Date.parse('2026-06-01T10:01:00Z');
  const task = store.tasks.claim('agent-1', now, 1_000)!;
  store.tasks.start(task.id, 'agent-1', now, 1_000);
  assert.equal(store.tasks.claim('agent-2', now + 5_000, 1_000), null, 'an expired job task is not claimable again');
  at('10:01:05');
  scheduler.pass();
  assert.deepEqual(rows(store), ['10:01:00 lost']);
  assert.equal(store.tasks.get(task.id)!.state, 'cancelled');
});

test('scheduler: the same tick can never get a second row, even from a stale decision', () => {
  const { store, scheduler, at } = setup();
  scheduler.pass();
  at('10:01:00');
  scheduler.pass();
  assert.throws(() => store.jobs.commit({ service: 'web', job: 'tick', from: T0, to: Date.parse('2026-06-01T10:01:00Z'), ticks: [] }), /cursor moved/);
  const cursor = store.jobs.cursor('web', 'tick')!;
  assert.throws(() => store.jobs.commit({ service: 'web', job: 'tick', from: cursor, to: cursor, ticks: [{ tick: cursor, reason: 'x' }] }), /already has a run/);
  assert.deepEqual(rows(store), ['10:01:00 pending']);
  assert.equal(store.jobs.cursor('web', 'tick'), cursor, 'a failed commit leaves the cursor');
});

test('scheduler: replace cancels the running run and its task; trigger under forbid with one going is E_CONFLICT', () => {
  const r = setup({ concurrency: 'replace' });
  r.scheduler.pass();
  r.at('10:01:00');
  r.scheduler.pass();
  r.at('10:02:00');
  r.scheduler.pass();
  assert.deepEqual(rows(r.store), ['10:01:00 cancelled', '10:02:00 pending']);
  const f = setup({ concurrency: 'forbid' });
  f.scheduler.pass();
  f.at('10:01:00');
  f.scheduler.pass();
  assert.throws(() => f.scheduler.trigger('web', 'tick'), (e: unknown) => (e as { code?: string }).code === 'E_CONFLICT');
  f.at('10:01:30');
  agentFinishes(f.store, 3, Date.parse('2026-06-01T10:01:20Z'));
  f.scheduler.pass();
  const run = f.scheduler.trigger('web', 'tick');
  assert.equal(run.trigger, 'manual');
  assert.deepEqual(rows(f.store), ['10:01:00 failed', '10:01:30 pending']);
  assert.equal(f.store.jobs.list('web', 'tick')[1]!.exitCode, 3);
});

test('scheduler: a run whose task was cancelled before any agent claimed it (its agent went offline) is queued again, once', () => {
  const { store, scheduler, at } = setup();
  scheduler.pass();
  at('10:01:00');
  scheduler.pass();
  const first = store.jobs.list('web', 'tick')[0]!;
  store.tasks.cancel(first.taskId!);
  at('10:01:01');
  scheduler.pass();
  const again = store.jobs.get(first.id)!;
  assert.equal(again.state, 'pending');
  assert.notEqual(again.taskId, first.taskId);
  assert.equal(store.tasks.listActive().length, 1);
  assert.deepEqual(rows(store), ['10:01:00 pending']);
});
