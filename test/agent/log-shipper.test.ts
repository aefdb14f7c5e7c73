import assert from 'node:assert/strict';
import { test } from 'node:test';
import { capFailureMessage, failureWithOutput, MAX_FAILURE_MESSAGE } from '../../agent/failure-output.ts';
import { createLogShipper } from '../../agent/log-shipper.ts';
import { createMasker } from '../../agent/runner/mask.ts';
import type { ShippedLine } from '../../schemas/agent-protocol.ts';
import { ForgeError } from '../../errors/index.ts';
import { eventually } from '../helpers/net.ts';

const line = (n: number): ShippedLine => ({ instance: 'inst_a', stream: 'stdout', time: n, line: `line ${n}` });

test('shipper: batches, retries a refused send, and ships every line in order', async () => {
  const got: string[] = [];
  let calls = 0;
  const shipper = createLogShipper({
    batchSize: 3, lingerMs: 5, retryMs: 5,
    async send(lines) {
      calls += 1;
      if (calls === 2) throw new Error('control plane down');
      got.push(...lines.map((l) => l.line));
    },
  });
  for (let i = 0; i < 7; i++) shipper.push(line(i));
  await eventually('all shipped', 5_000, async () => (got.length === 7 ? true : undefined));
  assert.deepEqual(got, [0, 1, 2, 3, 4, 5, 6].map((i) => `line ${i}`));
  assert.ok(calls >= 4);
  await shipper.close(100);
});

test('shipper: the queue is bounded; the oldest go and the gap is marked', async () => {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => { release = resolve; });
  const got: string[] = [];
  const shipper = createLogShipper({
    maxQueued: 3, batchSize: 100, lingerMs: 1, retryMs: 1,
    async send(lines) {
      await gate;
      got.push(...lines.map((l) => l.line));
    },
  });
  shipper.push(line(0));
  await new Promise((r) => setTimeout(r, 20)); // line 0 is in flight, held by the gate
  for (let i = 1; i <= 6; i++) shipper.push(line(i));
  assert.equal(shipper.queued, 3);
  release();
  await eventually('shipped', 5_000, async () => (got.length === 4 ? true : undefined));
  assert.deepEqual(got, ['line 0', '[forge: output dropped before this line: the agent could not ship it in time] line 4', 'line 5', 'line 6']);
  await shipper.close(100);
});

test('shipper: shipped() waits for the lines pushed before it, not for later ones, and gives up at its deadline', async () => {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => { release = resolve; });
  const got: string[] = [];
  const shipper = createLogShipper({
    batchSize: 1, lingerMs: 10_000, retryMs: 1,
    async send(lines) {
      await gate;
      if (lines[0]!.line === 'line 3') await new Promise(() => undefined); // never arrives
      got.push(...lines.map((l) => l.line));
    },
  });
  for (let i = 0; i < 3; i++) shipper.push(line(i));
  await new Promise((r) => setTimeout(r, 20)); // the shipper is in its batching pause
  let settled = false;
  // That pause would hold the lines for 10 s; a waiter cuts it short.
  const started = Date.now();
  const waited = shipper.shipped(5_000).then(() => { settled = true; });
  await new Promise((r) => setTimeout(r, 30));
  shipper.push(line(3)); // after the call: not waited for
  assert.equal(settled, false, 'resolved while its lines were still held');
  release();
  await waited;
  assert.ok(Date.now() - started < 4_000, 'waited out its deadline instead of the lines');
  assert.deepEqual(got, ['line 0', 'line 1', 'line 2']);
  const stuck = Date.now();
  await shipper.shipped(150); // line 3 is stuck: the deadline ends the wait
  assert.ok(Date.now() - stuck >= 140);
  const cancel = new AbortController();
  const aborted = Date.now();
  setTimeout(() => cancel.abort(), 20);
  await shipper.shipped(5_000, cancel.signal); // a lost task or a stopping agent waits no longer
  assert.ok(Date.now() - aborted < 2_000, 'the wait outlived its signal');
  await shipper.close(0);
});

test('shipper: a waiter that comes with the line skips the batching pause too', async () => {
  const got: string[] = [];
  const shipper = createLogShipper({ lingerMs: 10_000, async send(lines) { got.push(...lines.map((l) => l.line)); } });
  const started = Date.now();
  shipper.push(line(0));
  await shipper.shipped(5_000);
  assert.deepEqual(got, ['line 0']);
  assert.ok(Date.now() - started < 4_000, 'waited out its deadline instead of the line');
  await shipper.close(0);
});

test('masker: injected secret values never leave in a line; short values are left alone', () => {
  const mask = createMasker({ DATABASE_URL: 'postgres://u:hunter22@db/app', TOKEN: 'hunter22', FLAG: '1' });
  assert.equal(mask('connecting to postgres://u:hunter22@db/app with 1 try'), 'connecting to [secret DATABASE_URL] with 1 try');
  assert.equal(mask('token=hunter22 hunter22'), 'token=[secret TOKEN] [secret TOKEN]');
  assert.equal(createMasker({})('as is'), 'as is');
});

test('a failure message carries the last lines and where the full log is', () => {
  const health = new ForgeError('E_HEALTH_FAILED', 'exited during start-up: exited with code 1');
  assert.equal(failureWithOutput('web', 'inst_1', health, ['starting', '', 'DATABASE_URL is not set', '']),
    'exited during start-up: exited with code 1; last output: "starting" | "DATABASE_URL is not set" (full log: forge logs web --instance inst_1)');
  const build = new ForgeError('E_BUILD_FAILED', 'build step 1/1 failed: exited with code 127');
  assert.equal(failureWithOutput('web', 'inst_1', build, ['sh: 1: uvicorn: not found']),
    'build step 1/1 failed: exited with code 127; last output: "sh: 1: uvicorn: not found" (full log: forge logs web --build)');
  assert.equal(failureWithOutput('web', 'inst_1', build, []), 'build step 1/1 failed: exited with code 127');
  // Quotes in long lines double under JSON escaping; the capped message still fits an instance report.
  const long = capFailureMessage(failureWithOutput('web', 'inst_1', build, Array.from({ length: 5 }, () => '"'.repeat(400))));
  assert.equal(long.length, MAX_FAILURE_MESSAGE);
});
