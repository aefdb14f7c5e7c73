// Only the elected replica runs the loop; the other serves the API; a deposed leader's loop stops
// and its writes are fenced meanwhile. SQLite: the one process always runs it.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Registry } from 'prom-client';
import { startLeadership } from '../../api/leadership.ts';
import { openStore } from '../../store/index.ts';
import { postgresSql } from '../../store/pg-engine.ts';
import { type PgCluster, postgresSkipReason, startPgCluster } from '../store/pg-cluster.ts';
import { tempStore } from '../store/helpers.ts';

function fakeLoop() {
  const loop = { running: false, starts: 0, start() { loop.running = true; loop.starts++; }, async stop() { loop.running = false; } };
  return loop;
}

async function until(check: () => boolean, tries = 400): Promise<boolean> {
  for (let i = 0; i < tries; i++) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return check();
}

test('SQLite: the single process runs the loop; forge_leader is 1', async () => {
  const t = tempStore();
  const loop = fakeLoop();
  const registry = new Registry();
  const leadership = startLeadership({ store: t.store, databaseUrl: undefined, loop, registry, replica: 'r1' });
  try {
    assert.equal(loop.running, true);
    assert.deepEqual(leadership.state(), { role: 'single', term: 0, replica: 'r1' });
    assert.match(await registry.metrics(), /forge_leader\{replica="r1"\} 1/);
  } finally {
    await leadership.stop();
    t.cleanup();
  }
});

const skip = postgresSkipReason();
describe('PostgreSQL replicas', skip === undefined ? {} : { skip }, () => {
  let cluster: PgCluster;
  before(async () => {
    cluster = await startPgCluster();
  });
  after(async () => cluster?.stop());

  test('one replica runs the loop; when it leaves, the other takes over with the next term', async () => {
    const url = cluster.adminUrl;
    const replicas = ['r1', 'r2'].map((replica) => {
      const store = openStore(url);
      const loop = fakeLoop();
      const registry = new Registry();
      const leadership = startLeadership({ store, databaseUrl: url, loop, registry, replica, pollMs: 100, sessionTimeoutMs: 2_000 });
      return { replica, store, loop, registry, leadership };
    });
    try {
      assert.ok(await until(() => replicas.some((r) => r.loop.running)));
      await new Promise((r) => setTimeout(r, 300));
      const leaders = replicas.filter((r) => r.loop.running);
      assert.equal(leaders.length, 1, 'one loop runs');
      const [leader, standby] = leaders[0] === replicas[0] ? [replicas[0]!, replicas[1]!] : [replicas[1]!, replicas[0]!];
      const term = leader.leadership.state().term;
      assert.deepEqual(leader.leadership.state(), { role: 'leader', term, replica: leader.replica });
      assert.equal(standby.leadership.state().role, 'standby');
      assert.match(await leader.registry.metrics(), new RegExp(`forge_leader\\{replica="${leader.replica}"\\} 1`));
      assert.match(await standby.registry.metrics(), new RegExp(`forge_leader\\{replica="${standby.replica}"\\} 0`));
      await leader.leadership.stop();
      assert.equal(leader.loop.running, false);
      assert.ok(await until(() => standby.loop.running), 'the standby runs the loop');
      assert.deepEqual(standby.leadership.state(), { role: 'leader', term: term + 1, replica: standby.replica });
      assert.match(await standby.registry.metrics(), /forge_leader_changes_total 1/);
    } finally {
      for (const r of replicas) {
        await r.leadership.stop();
        r.store.close();
      }
    }
  });

  test('a loop start that fails is reported, and later transitions still happen', async () => {
    const url = cluster.adminUrl;
    const store = openStore(url);
    const errors: string[] = [];
    const loop = {
      running: false, starts: 0, stops: 0,
      async start() {
        loop.starts++;
        if (loop.starts === 1) throw new Error('first start fails');
        loop.running = true;
      },
      async stop() { loop.stops++; loop.running = false; },
    };
    const leadership = startLeadership({
      store, databaseUrl: url, loop, registry: new Registry(), replica: 'failing-start', pollMs: 100, sessionTimeoutMs: 2_000,
      onError: (e) => errors.push(e.message),
    });
    const admin = postgresSql(url);
    try {
      assert.ok(await until(() => loop.starts === 1), 'elected: the loop was started (and failed)');
      assert.ok(await until(() => errors.some((m) => m.includes('first start fails'))), 'the failure is reported');
      // Its leader session dies: it loses leadership, then wins it again.
      admin.exec(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'forge-leader:failing-start'`);
      assert.ok(await until(() => loop.running), 'the next transitions ran: the loop was stopped and started again');
      assert.ok(loop.stops >= 1);
    } finally {
      admin.close();
      await leadership.stop().catch(() => undefined);
      store.close();
    }
  });
});
