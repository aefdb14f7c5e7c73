// The spec fuzz in the normal suite: 2,000 of the cases `npm run test:fuzz` runs
// 100,000 of (test/fuzz/run-specs.ts), same generator, same verdicts.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSpecText } from '../../specs/index.ts';
import { HOSTILE_NAMES, specCase } from './spec-cases.ts';
import { runSpecFuzz, summaryLines } from './specs-fuzz.ts';

test('2,000 generated and mutated specs: no crash, every rejection positioned', () => {
  const tally = runSpecFuzz(1, 0, 2_000);
  assert.deepEqual(tally.failures, []);
  assert.equal(summaryLines(tally)[0]!.split(' (')[0], 'fuzz specs: 2000 cases, 0 crashes, 0 unpositioned rejections');
  // The generator reaches both outcomes, so the run means something.
  assert.ok(tally.accepted > 100 && tally.rejected > 1_000, JSON.stringify({ accepted: tally.accepted, rejected: tally.rejected }));
});

test('cases are reproducible by number', () => {
  assert.equal(specCase(1, 1234), specCase(1, 1234));
  assert.notEqual(specCase(1, 1234), specCase(2, 1234));
});

test('path-traversal and shell-metacharacter names are refused by spec validation, at the name', () => {
  for (const name of HOSTILE_NAMES) {
    const result = parseSpecText(`name: ${JSON.stringify(name)}\nimage: nginx:1\n`, 'svc.yaml');
    assert.equal(result.ok, false, `accepted name ${JSON.stringify(name)}`);
    if (result.ok) continue;
    assert.deepEqual(result.problems.map((p) => [p.path, p.line, p.col]), [['name', 1, 7]], JSON.stringify(name));
  }
});
