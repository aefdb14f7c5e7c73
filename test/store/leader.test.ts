// Leader election and fencing on a real (throwaway) PostgreSQL: one leader at a time, a new term at
// each election, and a deposed leader's writes refused by the database.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { admitClaim, createTermGuard } from '../../agent/term-guard.ts';
import { ForgeError } from '../../errors/index.ts';
import { openStore } from '../../store/index.ts';
import { type Election, type Leadership, startElection } from '../../store/leader.ts';
import { postgresSql } from '../../store/pg-engine.ts';
import { type PgCluster, postgresSkipReason, startPgCluster } from './pg-cluster.ts';
import { scalar, spec } from './helpers.ts';

/** Polls `check` every 50 ms, at most `tries` times. */
async function until(check: () => boolean, tries = 400): Promise<boolean> {
  for (let i = 0; i < tries; i++) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return check();
}

const skip = postgresSkipReason();
describe('leader election on PostgreSQL', skip === undefined ? {} : { skip }, () => {
  let cluster: PgCluster;
  let url: string;
  before(async () => {
    cluster = await startPgCluster();
    url = cluster.adminUrl;
    openStore(url).close(); // migrated once
  });
  after(async () => cluster?.stop());

  function sqlOnce(text: string): void {
    const sql = postgresSql(url);
    try {
      sql.exec(text);
    } finally {
      sql.close();
    }
  }

  function elect(replica: string): { election: Election; seen: Leadership[] } {
    const seen: Leadership[] = [];
    const election = startElection({ url, replica, pollMs: 100, sessionTimeoutMs: 2_000, onChange: (s) => seen.push(s) });
    return { election, seen };
  }

  test('one leader at a time; when it steps down the other leads with the next term', async () => {
    const a = elect('a');
    const b = elect('b');
    try {
      assert.ok(await until(() => a.election.state().leader || b.election.state().leader), 'someone leads');
      await new Promise((r) => setTimeout(r, 300)); // several rounds of the other trying
      assert.equal(Number(a.election.state().leader) + Number(b.election.state().leader), 1, 'exactly one leads');
      const [first, second] = a.election.state().leader ? [a, b] : [b, a];
      const term = first.election.state().term;
      await first.election.stop();
      assert.ok(await until(() => second.election.state().leader), 'the standby takes over');
      assert.equal(second.election.state().term, term + 1);
      assert.deepEqual(first.seen.at(-1), { leader: false, term });
    } finally {
      await a.election.stop();
      await b.election.stop();
    }
  });

  test('a leader whose session dies loses the lock: the standby leads with a higher term', async () => {
    const a = elect('a');
    assert.ok(await until(() => a.election.state().leader));
    const b = elect('b');
    const admin = postgresSql(url);
    try {
      const term = a.election.state().term;
      admin.exec(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'forge-leader:a'`);
      assert.ok(await until(() => b.election.state().leader), 'b leads once a\'s session is gone');
      assert.ok(b.election.state().term > term);
      assert.ok(await until(() => !a.election.state().leader), 'a knows it is deposed');
    } finally {
      admin.close();
      await a.election.stop();
      await b.election.stop();
    }
  });

  test('a writer paused inside a transaction does not stall the election: the server ends its transaction', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./paused-writer.fixture.ts', import.meta.url)), url, '40000'],
      { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const sql = postgresSql(url);
    let b: ReturnType<typeof elect> | undefined;
    try {
      assert.ok(await until(() => out.includes('in\n'), 400), 'the child holds its transaction open');
      b = elect('paused-b');
      const elected = b;
      // Its transaction (and the writers' lock) goes after 5 s idle, long before its 40 s pause ends.
      assert.ok(await until(() => elected.election.state().leader, 300), 'elected while the writer is still paused');
      assert.equal(scalar(sql, `SELECT count(*) FROM services WHERE name = 'paused'`), 0, 'the paused write did not land');
    } finally {
      await b?.election.stop();
      if (child.exitCode === null) child.kill('SIGKILL');
      sql.close();
    }
  });

  test('a writer paused past the server\'s idle timeout gets an error when it resumes; nothing of its transaction lands', async () => {
    // One child writes again after its pause, the other only commits: the server ended both
    // sessions (idle_in_transaction_session_timeout, 5 s), and neither may go on on a new connection.
    const run = (mode: string, name: string) => {
      const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./paused-writer.fixture.ts', import.meta.url)), url, '7000', mode, name],
        { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
      return { child, exited, out: () => out };
    };
    const children = [run('write-after', 'resumed-a'), run('commit', 'resumed-b')];
    const sql = postgresSql(url);
    try {
      await Promise.race([Promise.all(children.map((c) => c.exited)), new Promise((r) => setTimeout(r, 30_000))]);
      for (const c of children) assert.match(c.out(), /^in\nrefused: /, 'the resumed writer is told its transaction failed');
      assert.equal(scalar(sql, `SELECT count(*) FROM services WHERE name LIKE 'resumed-%'`), 0, 'nothing of either transaction landed');
    } finally {
      for (const c of children) if (c.child.exitCode === null) c.child.kill('SIGKILL');
      sql.close();
    }
  });

  test('an election and a store write of the same process, both waiting for the writers\' lock, do not wait on each other', async () => {
    // Another process holds the writers' lock for 1.5 s. Meanwhile this process's election asks
    // for it (to move the term) and then its store does (synchronously: this event loop blocks).
    const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./paused-writer.fixture.ts', import.meta.url)), url, '1500'],
      { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    // Without the fix the write would wait forever: a lock timeout ends it (and the test) instead.
    const store = openStore(`${url}?options=${encodeURIComponent('-c lock_timeout=10000')}`);
    let b: ReturnType<typeof elect> | undefined;
    try {
      assert.ok(await until(() => out.includes('in\n'), 400), 'the child holds the writers\' lock');
      b = elect('same-process');
      await new Promise((r) => setTimeout(r, 300)); // its request for the lock is queued first
      assert.doesNotThrow(() => store.services.upsert({ name: 'same-process', spec: spec('same-process'), hash: 'h', source: 'api' }));
      const elected = b;
      assert.ok(await until(() => elected.election.state().leader, 100), 'and the election is won');
    } finally {
      await b?.election.stop();
      if (child.exitCode === null) child.kill('SIGKILL');
      store.close();
    }
  });

  test('a task still queued at an election is adopted by the new term: an agent claims and runs it; one claimed before is not', async () => {
    const a = elect('a');
    assert.ok(await until(() => a.election.state().leader));
    const oldTerm = a.election.state().term;
    const store = openStore(url);
    const dir = mkdtempSync(path.join(tmpdir(), 'forge-adopt-'));
    try {
      store.fence(oldTerm);
      const queued = store.tasks.enqueue({ kind: 'build', service: 'adopt', generation: 1, replica: 0, payload: { oneOff: true } });
      const taken = store.tasks.enqueue({ kind: 'build', service: 'adopt-taken', generation: 1, replica: 0, payload: { oneOff: true } });
      store.fence(null);
      const now = Date.now();
      sqlOnce(`UPDATE tasks SET state = 'running', agent_id = 'x', lease_expires_at = ${now + 60_000} WHERE id = '${taken.id}'`);
      await a.election.stop();
      const b = elect('b');
      assert.ok(await until(() => b.election.state().leader));
      const newTerm = b.election.state().term;
      assert.ok(newTerm > oldTerm);
      assert.equal(store.tasks.get(queued.id)?.term, newTerm, 'the queued task now carries the new term');
      assert.equal(store.tasks.get(taken.id)?.term, oldTerm, 'a task already handed out keeps its term');
      // The agent's side, with the claim answer the protocol sends (api/agent-routes.ts).
      const task = store.tasks.claim('agent-1', now, 60_000);
      assert.equal(task?.id, queued.id);
      const guard = createTermGuard(dir);
      guard.bind('agent-1');
      guard.observe(oldTerm);
      const reported: unknown[] = [];
      const claimed = { task: { id: task!.id, term: task!.term }, term: Math.max(task!.term, store.tasks.currentTerm()) };
      assert.equal(await admitClaim({ result: async (_id, body) => { reported.push(body); return 'ok' as const; } }, guard, claimed as never), true,
        'run, not refused');
      assert.deepEqual(reported, []);
      await b.election.stop();
    } finally {
      store.close();
      rmSync(dir, { recursive: true, force: true });
      await a.election.stop();
    }
  });

  test('fencing: writes under a term that is over are refused and land nowhere; the current term writes', async () => {
    const a = elect('a');
    assert.ok(await until(() => a.election.state().leader));
    const oldTerm = a.election.state().term;
    const deposed = openStore(url);
    const sql = postgresSql(url);
    try {
      deposed.fence(oldTerm);
      deposed.services.upsert({ name: 'before', spec: spec('before'), hash: 'h', source: 'api' });
      await a.election.stop(); // a new election moves the term
      const b = elect('b');
      assert.ok(await until(() => b.election.state().leader));
      const refused = (e: unknown) => e instanceof ForgeError && e.code === 'E_FENCED';
      assert.throws(() => deposed.services.upsert({ name: 'late', spec: spec('late'), hash: 'h', source: 'api' }), refused);
      assert.throws(() => deposed.transaction(() => deposed.events.append('before', { type: 'Normal', reason: 'X', message: 'late' })), refused);
      assert.throws(() => deposed.services.setState('before', 'stopped'), refused, 'a lone UPDATE is fenced too');
      assert.equal(scalar(sql, `SELECT count(*) FROM services WHERE name = 'late'`), 0);
      assert.equal(scalar(sql, `SELECT state FROM services WHERE name = 'before'`), 'running');
      deposed.fence(b.election.state().term);
      assert.equal(deposed.services.setState('before', 'stopped'), true);
      await b.election.stop();
    } finally {
      sql.close();
      deposed.close();
      await a.election.stop();
    }
  });
});
