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
