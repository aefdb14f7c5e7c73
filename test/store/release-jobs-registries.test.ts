// The stores the release phase, cron jobs and image registries added, on both engines: the
// exactly-once keys (a release command's started row, a tick's run row, the job cursor) must
// hold on PostgreSQL exactly as on SQLite, and a job task must pass the tasks kind CHECK.

import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { ForgeError } from '../../errors/index.ts';
import { forEachEngine, type TempStore, T0 } from './helpers.ts';

forEachEngine((engine) => {
  describe('release commands, job runs and registry credentials', () => {
    let t: TempStore;
    beforeEach(() => {
      t = engine.tempStore();
    });
    afterEach(() => t.cleanup());

    test('a release command starts once per (service incarnation, generation) and records its end', () => {
      const key = { serviceId: 'svc_1', service: 'web', generation: 2, hash: 'h2' };
      assert.equal(t.store.releaseCommands.start(key), true);
      assert.equal(t.store.releaseCommands.start(key), false, 'a started row is never started again');
      assert.equal(t.store.releaseCommands.finish('svc_1', 2, { state: 'failed', exitCode: 3, lastLines: ['boom'], reason: 'exited 3' }), true);
      const row = t.store.releaseCommands.get('svc_1', 2);
      assert.deepEqual([row?.state, row?.exitCode, row?.lastLines, row?.reason], ['failed', 3, ['boom'], 'exited 3']);
      assert.equal(t.store.releaseCommands.get('svc_1', 3), null);
    });

    test('a tick is committed once: a stale cursor or a tick that has a row is refused and writes nothing', () => {
      const tick = T0 + 60_000;
      const rows = t.store.jobs.commit({
        service: 'web', job: 'nightly', from: null, to: tick,
        ticks: [
          { tick: T0, reason: 'missed' },
          { tick, start: (run) => ({ kind: 'job', service: 'web', generation: 1, replica: 0, payload: { ...run, job: 'nightly' } }) },
        ],
      });
      assert.deepEqual(rows.map((r) => [r.scheduledMs, r.state]), [[T0, 'skipped'], [tick, 'pending']]);
      assert.equal(t.store.jobs.cursor('web', 'nightly'), tick);
      const task = t.store.tasks.get(rows[1]!.taskId!);
      assert.equal(task?.kind, 'job', 'the job task passes the kind CHECK');

      const again = () => t.store.jobs.commit({ service: 'web', job: 'nightly', from: null, to: tick, ticks: [{ tick, reason: 'x' }] });
      assert.throws(again, (e: unknown) => e instanceof ForgeError && e.code === 'E_CONFLICT');
      const duplicate = () => t.store.jobs.commit({ service: 'web', job: 'nightly', from: tick, to: tick + 1, ticks: [{ tick, reason: 'x' }] });
      assert.throws(duplicate, (e: unknown) => e instanceof ForgeError && /already has a run/.test(e.message));
      assert.equal(t.store.jobs.cursor('web', 'nightly'), tick, 'the refused commit moved nothing');
      assert.equal(t.store.jobs.list('web', 'nightly').length, 2);
    });

    test('registry credentials are kept sealed per host', () => {
      t.store.registries.put('registry.test:5000', 'ci', Buffer.from([1, 2, 3]), 'k1');
      const row = t.store.registries.get('registry.test:5000');
      assert.deepEqual([row?.username, Buffer.from(row!.ciphertext).equals(Buffer.from([1, 2, 3])), row?.keyId], ['ci', true, 'k1']);
      assert.equal(t.store.registries.remove('registry.test:5000'), true);
      assert.equal(t.store.registries.get('registry.test:5000'), undefined);
    });
  });
});
