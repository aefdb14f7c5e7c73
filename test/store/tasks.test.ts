import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ForgeError } from '../../errors/index.ts';
import { openStore, type EnqueueInput } from '../../store/index.ts';
import { column, forEachEngine, type TempStore, T0 } from './helpers.ts';

const LEASE = 30_000;
const job = (over: Partial<EnqueueInput> = {}): EnqueueInput => ({
  kind: 'run', service: 'web', generation: 1, replica: 0, ...over,
});

forEachEngine((engine) => {
  describe('tasks', () => {
    let t: TempStore;
    beforeEach(() => {
      t = engine.tempStore();
    });
    afterEach(() => t.cleanup());

    test('enqueue stores a queued task with a task_ id', () => {
      const task = t.store.tasks.enqueue(job({ agentId: 'a1', payload: { image: 'nginx' } }));
      assert.match(task.id, /^task_[0-9a-f]{16}$/);
      assert.deepEqual({ ...task, id: '' }, {
        id: '', kind: 'run', service: 'web', generation: 1, replica: 0, agentId: 'a1', dedupeKey: null,
        payload: { image: 'nginx' }, state: 'queued', leaseOwner: null, leaseExpiresAt: null, attempts: 0, term: 0,
        result: null, createdAt: new Date(T0).toISOString(), updatedAt: new Date(T0).toISOString(),
      });
    });

    test('a dedupe key returns the active task instead of queueing twice, and frees up once done', () => {
      const first = t.store.tasks.enqueue(job({ dedupeKey: 'web/1/0/run' }));
      assert.equal(t.store.tasks.enqueue(job({ dedupeKey: 'web/1/0/run' })).id, first.id);
      t.store.tasks.claim('a1', T0, LEASE);
      t.store.tasks.complete(first.id, 'a1', { ok: true }, true);
      assert.notEqual(t.store.tasks.enqueue(job({ dedupeKey: 'web/1/0/run' })).id, first.id);
    });

    test('a task carries the leader term it was issued under; the same work asked for under a newer term is re-issued', () => {
      assert.equal(t.store.tasks.currentTerm(), 0);
      const single = t.store.tasks.enqueue(job({ dedupeKey: 'single' }));
      assert.equal(single.term, 0, 'no election yet (SQLite never has one): term 0');
      t.sql.prepare('UPDATE leader_term SET term = 4 WHERE id = 1').run();
      assert.equal(t.store.tasks.currentTerm(), 4);
      const old = t.store.tasks.enqueue(job({ dedupeKey: 'web/run' }));
      const other = t.store.tasks.enqueue(job({ dedupeKey: 'web/other' }));
      assert.deepEqual([old.term, other.term], [4, 4]);
      t.sql.prepare('UPDATE leader_term SET term = 5 WHERE id = 1').run();
      const again = t.store.tasks.enqueue(job({ dedupeKey: 'web/run' }));
      assert.deepEqual([again.id, again.term], [old.id, 5], 'the new leader re-issued the same task as its own');
      assert.equal(t.store.tasks.get(other.id)?.term, 4, 'what it did not ask for again keeps the old term');
      assert.equal(t.store.tasks.claim('a1', T0, LEASE)?.term, 0);
    });

    test('a fenced leader stamps its own term; once deposed its task is refused and nothing lands', (ctx) => {
      if (t.dialect !== 'postgres') return ctx.skip('fencing is PostgreSQL\'s (one SQLite process has no elections)');
      t.sql.prepare('UPDATE leader_term SET term = 6 WHERE id = 1').run();
      t.store.fence(6);
      assert.equal(t.store.tasks.enqueue(job({ dedupeKey: 'a' })).term, 6);
      t.sql.prepare('UPDATE leader_term SET term = 7 WHERE id = 1').run();
      assert.throws(() => t.store.tasks.enqueue(job({ dedupeKey: 'b' })), (e: ForgeError) => e.code === 'E_FENCED');
      assert.equal(t.store.fencedWrites(), 1);
      assert.deepEqual(t.store.tasks.listActive().map((task) => [task.dedupeKey, task.term]), [['a', 6]]);
      t.store.fence(null);
    });

    test('claim hands the oldest task for this agent (or for any agent), never another agent\'s', () => {
      const forA2 = t.store.tasks.enqueue(job({ agentId: 'a2' }));
      const first = t.store.tasks.enqueue(job({ agentId: 'a1', replica: 0 }));
      const anyone = t.store.tasks.enqueue(job({ replica: 1 }));
      assert.equal(t.store.tasks.claim('a1', T0, LEASE)?.id, first.id);
      assert.equal(t.store.tasks.claim('a1', T0, LEASE)?.id, anyone.id);
      assert.equal(t.store.tasks.claim('a1', T0, LEASE), null);
      assert.equal(t.store.tasks.claim('a2', T0, LEASE)?.id, forA2.id);
    });

    test('claim sets the lease and counts the attempt; kinds filter', () => {
      t.store.tasks.enqueue(job({ kind: 'build' }));
      const run = t.store.tasks.enqueue(job({ kind: 'run' }));
      const got = t.store.tasks.claim('a1', T0 + 5, LEASE, ['run', 'stop']);
      assert.equal(got?.id, run.id);
      assert.deepEqual([got?.state, got?.leaseOwner, got?.leaseExpiresAt, got?.attempts], ['claimed', 'a1', T0 + 5 + LEASE, 1]);
    });

    test('two claimers on two connections: one wins, the other gets nothing', () => {
      const other = openStore(t.file);
      try {
        const task = t.store.tasks.enqueue(job());
        const a = t.store.tasks.claim('a1', T0, LEASE);
        const b = other.tasks.claim('a2', T0, LEASE);
        assert.equal(a?.id, task.id);
        assert.equal(b, null);
      } finally {
        other.close();
      }
    });

    test('an expired lease is handed out again, and the old holder is locked out', () => {
      const task = t.store.tasks.enqueue(job());
      t.store.tasks.claim('a1', T0, LEASE);
      assert.equal(t.store.tasks.claim('a2', T0 + LEASE - 1, LEASE), null, 'lease still live');
      const again = t.store.tasks.claim('a2', T0 + LEASE, LEASE);
      assert.deepEqual([again?.id, again?.leaseOwner, again?.attempts], [task.id, 'a2', 2]);
      assert.equal(t.store.tasks.renew(task.id, 'a1', T0 + LEASE + 1, LEASE), false);
      assert.equal(t.store.tasks.complete(task.id, 'a1', null, true), false);
      assert.equal(t.store.tasks.complete(task.id, 'a2', { exitCode: 0 }, true), true);
      assert.deepEqual([t.store.tasks.get(task.id)?.state, t.store.tasks.get(task.id)?.result], ['succeeded', { exitCode: 0 }]);
    });

    test('a running task whose lease expires is re-handed too', () => {
      const task = t.store.tasks.enqueue(job());
      t.store.tasks.claim('a1', T0, LEASE);
      assert.equal(t.store.tasks.start(task.id, 'a1', T0 + 10, LEASE), true);
      assert.equal(t.store.tasks.get(task.id)?.state, 'running');
      assert.equal(t.store.tasks.claim('a2', T0 + 10 + LEASE, LEASE)?.id, task.id);
    });

    test('renew: only the holder extends the lease', () => {
      const task = t.store.tasks.enqueue(job());
      t.store.tasks.claim('a1', T0, LEASE);
      assert.equal(t.store.tasks.renew(task.id, 'a2', T0 + 1_000, LEASE), false);
      assert.equal(t.store.tasks.get(task.id)?.leaseExpiresAt, T0 + LEASE);
      assert.equal(t.store.tasks.renew(task.id, 'a1', T0 + 1_000, LEASE), true);
      assert.equal(t.store.tasks.get(task.id)?.leaseExpiresAt, T0 + 1_000 + LEASE);
      assert.equal(t.store.tasks.claim('a2', T0 + LEASE, LEASE), null, 'renewed lease not expired');
    });

    test('failure is recorded; finished tasks are never claimed again', () => {
      const task = t.store.tasks.enqueue(job());
      t.store.tasks.claim('a1', T0, LEASE);
      assert.equal(t.store.tasks.complete(task.id, 'a1', { reason: 'build failed' }, false), true);
      assert.equal(t.store.tasks.get(task.id)?.state, 'failed');
      assert.equal(t.store.tasks.claim('a1', T0 + 10 * LEASE, LEASE), null);
    });

    test('cancel stops a task and refuses its holder', () => {
      const task = t.store.tasks.enqueue(job());
      t.store.tasks.claim('a1', T0, LEASE);
      assert.equal(t.store.tasks.cancel(task.id), true);
      assert.equal(t.store.tasks.cancel(task.id), false);
      assert.equal(t.store.tasks.renew(task.id, 'a1', T0 + 1, LEASE), false);
      assert.equal(t.store.tasks.complete(task.id, 'a1', null, true), false);
      assert.equal(t.store.tasks.get(task.id)?.state, 'cancelled');
    });

    test('cancelForService / cancelForAgent, listFor newest first, listActive', () => {
      const a = t.store.tasks.enqueue(job({ agentId: 'a1' }));
      const b = t.store.tasks.enqueue(job({ agentId: 'a2', replica: 1 }));
      const c = t.store.tasks.enqueue(job({ service: 'api', agentId: 'a2' }));
      assert.deepEqual(t.store.tasks.listFor('web').map((x) => x.id), [b.id, a.id]);
      assert.equal(t.store.tasks.cancelForAgent('a2'), 2);
      assert.deepEqual(t.store.tasks.listActive().map((x) => x.id), [a.id]);
      assert.equal(t.store.tasks.cancelForService('web'), 1);
      assert.deepEqual(t.store.tasks.listActive(), []);
      assert.equal(t.store.tasks.get(c.id)?.state, 'cancelled');
    });

    test('task logs: append, follow by seq, newest lines kept', () => {
      const small = engine.tempStore({ taskLogRetention: 3 });
      try {
        const task = small.store.tasks.enqueue(job());
        const seqs = ['l1', 'l2', 'l3', 'l4', 'l5'].map((l) => small.store.tasks.appendLog(task.id, l));
        assert.deepEqual(small.store.tasks.logs(task.id).map((l) => l.line), ['l3', 'l4', 'l5']);
        assert.deepEqual(small.store.tasks.logs(task.id, seqs[3]).map((l) => l.line), ['l5']);
        assert.deepEqual(small.store.tasks.logs(task.id, 0, 1).map((l) => l.line), ['l3']);
        assert.throws(
          () => small.store.tasks.appendLog('task_missing', 'x'),
          (e: unknown) => e instanceof ForgeError && e.code === 'E_NOT_FOUND',
        );
      } finally {
        small.cleanup();
      }
    });

    test('four processes racing to claim 2000 tasks: each task is won exactly once', async () => {
      const total = 2_000;
      t.store.transaction(() => {
        for (let i = 0; i < total; i++) t.store.tasks.enqueue(job({ replica: i }));
      });
      const goFile = join(t.dir, 'go');
      const fixture = fileURLToPath(new URL('./claimer.fixture.ts', import.meta.url));
      const children = ['p1', 'p2', 'p3', 'p4'].map((agent) =>
        spawn(process.execPath, ['--import', 'tsx', fixture, t.file, agent, goFile], { stdio: ['ignore', 'pipe', 'inherit'] }),
      );
      const timer = setTimeout(() => children.forEach((c) => c.kill('SIGKILL')), 30_000);
      try {
        let readyCount = 0;
        const outputs = children.map(
          (c) =>
            new Promise<string>((resolve, reject) => {
              let out = '';
              let ready = false;
              c.stdout.on('data', (d: Buffer) => {
                out += d.toString();
                if (!ready && out.startsWith('ready\n')) {
                  ready = true;
                  readyCount += 1;
                  if (readyCount === children.length) writeFileSync(goFile, '');
                }
              });
              c.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`claimer exited ${code}`))));
            }),
        );
        const won = (await Promise.all(outputs)).map((o) => JSON.parse(o.trim().split('\n').at(-1) as string) as string[]);
        const all = won.flat();
        assert.equal(all.length, total);
        assert.equal(new Set(all).size, total);
        const attempts = column(t.sql, 'SELECT DISTINCT attempts FROM tasks');
        assert.deepEqual(attempts, [1]);
      } finally {
        clearTimeout(timer);
      }
    });
  });
});
