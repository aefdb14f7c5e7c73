// CrashLoopBackOff as data: delays by crash count, the provider's own count when
// it reports one (agents), and the controller's count when it does not (Fly).

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { crashBackoffMs, crashWait, DEFAULT_CRASH_BACKOFF } from '../../reconciler/crash-backoff.ts';
import type { ObservedInstance } from '../../providers/types.ts';

const policy = { baseMs: 10_000, maxMs: 60_000 };
const T0 = 1_000_000;

function failed(extra: Partial<ObservedInstance> = {}): ObservedInstance {
  return { id: 'i1', key: 'web', replica: 0, hash: 'h', generation: 1, region: 'iad', state: 'failed', health: 'unhealthy', ...extra };
}

describe('crashBackoffMs', () => {
  const cases: Array<[number, number]> = [[0, 0], [1, 0], [2, 10_000], [3, 20_000], [4, 40_000], [5, 60_000], [50, 60_000]];
  for (const [crashes, ms] of cases) {
    test(`${crashes} crashes in a row → ${ms} ms`, () => assert.equal(crashBackoffMs(crashes, policy), ms));
  }
  test('the default is Kubernetes-like: 10 s doubling up to 5 min', () => {
    assert.deepEqual(DEFAULT_CRASH_BACKOFF, { baseMs: 10_000, maxMs: 300_000 });
  });
});

describe('crashWait with the provider\'s count (restarts + exitedAt)', () => {
  const crashed = failed({ restarts: 3, exitedAt: T0, reason: 'exited with code 1' });
  test('waits out the delay after the exit, and says which replica and how often', () => {
    assert.deepEqual(crashWait([crashed], undefined, T0 + 5_000, policy), {
      waitMs: 15_000, kept: undefined,
      message: 'CrashLoopBackOff: replica 0 crashed 3 times in a row; restarting in 15s',
    });
  });
  test('replaces once the delay has passed; the controller\'s own count is left alone', () => {
    const kept = { count: 7, lastAt: T0 };
    assert.deepEqual(crashWait([crashed], kept, T0 + 20_000, policy), { waitMs: 0, message: null, kept });
  });
  test('the first crash is replaced at once', () => {
    assert.equal(crashWait([failed({ restarts: 1, exitedAt: T0 })], undefined, T0, policy).waitMs, 0);
  });
  test('with several crashed replicas, the longest wait counts', () => {
    const other = failed({ id: 'i2', replica: 1, restarts: 5, exitedAt: T0 });
    assert.equal(crashWait([crashed, other], undefined, T0 + 1_000, policy).waitMs, 59_000);
  });
});

describe('crashWait with the controller\'s count (providers that do not count)', () => {
  test('first replacement at once, then base, doubling; nothing crashed: no wait, count kept', () => {
    const first = crashWait([failed()], undefined, T0, policy);
    assert.deepEqual(first, { waitMs: 0, message: null, kept: { count: 1, lastAt: T0 } });
    const early = crashWait([failed()], first.kept, T0 + 4_000, policy);
    assert.deepEqual(early, { waitMs: 6_000, message: 'CrashLoopBackOff: restarting in 6s', kept: first.kept });
    const second = crashWait([failed()], first.kept, T0 + 10_000, policy);
    assert.deepEqual(second.kept, { count: 2, lastAt: T0 + 10_000 });
    assert.equal(crashWait([failed()], second.kept, T0 + 25_000, policy).waitMs, 5_000);
    assert.deepEqual(crashWait([], second.kept, T0, policy), { waitMs: 0, message: null, kept: second.kept });
  });
});
