// The agent's view of the leader term (agent/term-guard.ts): a higher term is taken at once; a
// lower one only when answers keep saying it (the database went back), never from one late answer.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createTermGuard, LOWER_ANSWERS_TO_FOLLOW, TERM_FILE } from '../../agent/term-guard.ts';

function guardIn(t: { after(fn: () => void): void }) {
  const dir = mkdtempSync(path.join(tmpdir(), 'forge-term-guard-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const logs: string[] = [];
  const guard = createTermGuard(dir, (line) => logs.push(line));
  guard.bind('agt_1');
  return { guard, logs, saved: () => JSON.parse(readFileSync(path.join(dir, TERM_FILE), 'utf8')).term as number };
}

test('one late answer with an older term (a paused replica) does not lower the term: that term\'s tasks stay refused', (t) => {
  const { guard, saved } = guardIn(t);
  guard.observe(7);
  for (let i = 0; i < 5; i++) {
    guard.observe(4); // late, from a replica that read the term before it was paused
    assert.equal(guard.highest, 7);
    assert.equal(guard.refusal(4)?.result?.code, 'E_FENCED', 'the late answer\'s own task is refused');
    guard.observe(7);
  }
  assert.equal(guard.highest, 7);
  assert.equal(saved(), 7);
  assert.equal(guard.refusal(4)?.result?.code, 'E_FENCED');
  assert.equal(guard.refusal(7), null);
});

test(`${LOWER_ANSWERS_TO_FOLLOW} lower answers in a row (the database went back) are followed, and said once`, (t) => {
  const { guard, logs, saved } = guardIn(t);
  guard.observe(7);
  for (let i = 1; i < LOWER_ANSWERS_TO_FOLLOW; i++) guard.observe(2);
  assert.equal(guard.highest, 7, 'not before the last of the answers in a row');
  guard.observe(2);
  assert.equal(guard.highest, 2);
  assert.equal(saved(), 2);
  assert.equal(guard.refusal(2), null);
  assert.equal(logs.filter((l) => /went back/.test(l)).length, 1);
  guard.observe(9);
  assert.equal(guard.highest, 9, 'a higher term is taken at once');
});
