// Following an agent one-off to its end (providers/agent/one-off.ts), on a real store: a
// result is passed on; a holder that stops renewing its lease makes it "may have run" (and
// the task is cancelled so nobody takes it); one nobody claimed in time never started.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { followOneOff } from '../../../providers/agent/one-off.ts';
import { tempStore, T0 } from '../../store/helpers.ts';

const LEASE = 10_000;
const enqueue = (ts: ReturnType<typeof tempStore>) =>
  ts.store.tasks.enqueue({ kind: 'build', service: 'web', generation: 2, replica: 0, agentId: 'agt_a', payload: { instanceId: 'release-x-2' } });

test('a finished one-off passes on its exit code and output', async (t) => {
  const ts = tempStore();
  t.after(() => ts.cleanup());
  const task = enqueue(ts);
  ts.store.tasks.claim('agt_a', T0, LEASE);
  ts.store.tasks.appendLog(task.id, 'migrating');
  ts.store.tasks.complete(task.id, 'agt_a', { code: 'E_COMMAND_FAILED', message: 'exited with code 3', exitCode: 3, lastLines: ['boom'] }, false);
  const lines: string[] = [];
  const result = await followOneOff({ store: ts.store, now: () => ts.clock.now, pollMs: 1 }, task, { secrets: {}, onLine: (l) => lines.push(l) }, false);
  assert.deepEqual({ exitCode: result.exitCode, lastLines: result.lastLines, mayHaveRun: result.mayHaveRun, lines }, { exitCode: 3, lastLines: ['boom'], mayHaveRun: undefined, lines: ['migrating'] });
});

test('its agent stops renewing mid-run: may have run, and the task is cancelled (never handed out again)', async (t) => {
  const ts = tempStore();
  t.after(() => ts.cleanup());
  const task = enqueue(ts);
  ts.store.tasks.claim('agt_a', T0, LEASE);
  ts.store.tasks.start(task.id, 'agt_a', T0, LEASE);
  ts.clock.now = T0 + LEASE + 1;
  const result = await followOneOff({ store: ts.store, now: () => ts.clock.now, pollMs: 1 }, task, { secrets: {} }, false);
  assert.equal(result.mayHaveRun, true);
  assert.equal(result.exitCode, null);
  assert.equal(ts.store.tasks.get(task.id)?.state, 'cancelled');
  assert.equal(ts.store.tasks.claim('agt_a', ts.clock.now, LEASE), null);
});

test('nobody claimed it in time: it certainly never started (a throw, so the caller may retry)', async (t) => {
  const ts = tempStore();
  t.after(() => ts.cleanup());
  const task = enqueue(ts);
  ts.clock.now = T0;
  const following = followOneOff({ store: ts.store, now: () => ts.clock.now, pollMs: 1, claimWaitMs: 5 }, task, { secrets: {} }, false);
  ts.clock.now = T0 + 10;
  await assert.rejects(following, (e: Error & { code?: string }) => e.code === 'E_UNSCHEDULABLE');
  assert.equal(ts.store.tasks.get(task.id)?.state, 'cancelled');
});
