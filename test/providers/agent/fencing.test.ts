// Fencing at the agent: a real daemon, talking to a real control plane, refuses a task issued
// under a leader term lower than the current one (reported E_FENCED, never run), runs a task of
// the current term, still knows the term after a restart, and follows the database's term when
// the database went back (a restore): it does not refuse every task forever.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { TERM_FILE } from '../../../agent/term-guard.ts';
import { openDatabase } from '../../../store/db.ts';
import type { TaskRow } from '../../../store/rows.ts';
import { eventually, startControlPlane } from './harness.ts';

test('an agent refuses (E_FENCED) a task of a lower term than it has seen, runs the current term\'s, and remembers the term across a restart, and adopts a lower term after a restore', async () => {
  const cp = await startControlPlane({ heartbeatTimeoutMs: 5_000, leaseMs: 5_000 });
  // The store's file, opened a second time: the test plays the elections by moving leader_term.
  const raw = openDatabase(path.join(cp.dir, 'control', 'forge.db'));
  const setTerm = (term: number) => raw.prepare('UPDATE leader_term SET term = ? WHERE id = 1').run(term);
  const stopTask = (instanceId: string): TaskRow => cp.store.tasks.enqueue({
    kind: 'stop', service: 'web', generation: 1, replica: 0, agentId: a1.id, payload: { instanceId, remove: true },
  });
  const finished = (id: string) => eventually(`task ${id} to finish`, 10_000, () => {
    const task = cp.store.tasks.get(id)!;
    return task.state === 'succeeded' || task.state === 'failed' ? task : undefined;
  });
  const options = { portRange: { from: 42_100, to: 42_120 }, isolation: 'off' as const, mode: 'development' as const };
  let a1 = await cp.startAgent('a1', options);
  try {
    // Term 7 is elected; the agent hears of it in a heartbeat answer.
    setTerm(7);
    await eventually('the agent to see term 7', 5_000, () => JSON.parse(readFileSync(path.join(cp.dir, 'a1', TERM_FILE), 'utf8')).term === 7);

    // A task of term 7 runs.
    const current = await finished(stopTask('inst_current').id);
    assert.deepEqual([current.term, current.state], [7, 'succeeded']);

    // A task issued under term 3 (a deposed leader's, handed out late) is refused.
    const stale = stopTask('inst_stale');
    raw.prepare('UPDATE tasks SET term = 3 WHERE id = ?').run(stale.id);
    const refused = await finished(stale.id);
    assert.equal(refused.state, 'failed');
    assert.equal((refused.result as { code?: string }).code, 'E_FENCED');
    assert.match((refused.result as { message: string }).message, /term 3.*current term is 7/);

    // Restarted, the agent (same id, same data dir) still knows term 7: a task of term 3 is refused.
    await a1.kill();
    cp.agents.splice(cp.agents.indexOf(a1), 1);
    a1 = await cp.startAgent('a1', options);
    const afterRestart = stopTask('inst_after_restart');
    raw.prepare('UPDATE tasks SET term = 3 WHERE id = ?').run(afterRestart.id);
    const refusedAgain = await finished(afterRestart.id);
    assert.deepEqual([refusedAgain.state, (refusedAgain.result as { code?: string }).code], ['failed', 'E_FENCED']);

    // The database went back (a restore from a dump, or a fall-back to the SQLite file): its term is
    // now 2, lower than the agent's 7. The answers' term is read from the database, the source of
    // truth: the agent adopts it and runs the database's tasks instead of refusing them forever.
    setTerm(2);
    await eventually('the agent to adopt term 2', 5_000, () => JSON.parse(readFileSync(path.join(cp.dir, 'a1', TERM_FILE), 'utf8')).term === 2);
    const restored = stopTask('inst_restored');
    raw.prepare('UPDATE tasks SET term = 2 WHERE id = ?').run(restored.id);
    assert.deepEqual([(await finished(restored.id)).state, (await finished(restored.id)).term], ['succeeded', 2]);
  } finally {
    raw.close();
    await cp.close();
  }
});
