// `release:` in a spec: the command and its timeout, with positioned errors for bad input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { problemsOf } from './helpers.ts';
import { specsOf } from './helpers.ts';

test('release.command normalizes with the default timeout (5m) or the given one', () => {
  const [plain] = specsOf('name: a\nimage: x\nrelease:\n  command: npm run migrate\n');
  assert.deepEqual(plain?.spec.release, { command: 'npm run migrate', timeoutMs: 300_000 });
  const [timed] = specsOf('name: a\nimage: x\nrelease:\n  command: ./migrate\n  timeout: 90s\n');
  assert.deepEqual(timed?.spec.release, { command: './migrate', timeoutMs: 90_000 });
  const [none] = specsOf('name: a\nimage: x\n');
  assert.equal(none?.spec.release, undefined, 'absent: older hashes stay');
});

test('bad release sections are positioned errors', () => {
  assert.deepEqual(problemsOf('name: a\nimage: x\nrelease:\n  timeout: 10s\n'), [
    'svc.yaml:4:3 release.command: missing required key `command`',
  ]);
  assert.deepEqual(problemsOf('name: a\nimage: x\nrelease:\n  command: m\n  timeout: 0s\n'), [
    'svc.yaml:5:12 release.timeout: should be longer than 0',
  ]);
  assert.deepEqual(problemsOf('name: a\nimage: x\nrelease:\n  command: m\n  timeout: 61m\n'), [
    'svc.yaml:5:12 release.timeout: should be at most 60m',
  ]);
  assert.deepEqual(problemsOf('name: a\nimage: x\nrelease:\n  command: m\n  tmeout: 1m\n'), [
    'svc.yaml:5:3 release.tmeout: unknown key `tmeout`; did you mean `timeout`?',
  ]);
});
