import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TokenBuckets, backoffDelayMs, retryAfterMs } from '../../../providers/fly/retry.ts';

describe('backoffDelayMs (full jitter)', () => {
  const policy = { baseMs: 100, maxMs: 1_000 };
  const table: [number, number, number][] = [
    [0, 0.5, 50], [1, 0.5, 100], [3, 0.5, 400], [4, 0.5, 500], [10, 0.999, 999], [2, 0, 0],
  ];
  for (const [attempt, r, expected] of table) {
    it(`attempt ${attempt}, random ${r} → ${expected} ms`, () => assert.equal(backoffDelayMs(attempt, policy, () => r), expected));
  }
});

describe('retryAfterMs', () => {
  const now = Date.parse('2025-01-01T00:00:00Z');
  const table: [string | undefined, number | undefined][] = [
    [undefined, undefined], ['', undefined], ['3', 3_000], ['0', 0], ['1.5', 1_500],
    ['Wed, 01 Jan 2025 00:00:10 GMT', 10_000], ['Tue, 31 Dec 2024 23:00:00 GMT', 0], ['soon', undefined],
  ];
  for (const [header, expected] of table) it(`${JSON.stringify(header)} → ${expected}`, () => assert.equal(retryAfterMs(header, now), expected));
});

describe('TokenBuckets', () => {
  it('allows a burst of 3 per key, then one per second, independently per key', () => {
    let t = 0;
    const buckets = new TokenBuckets({ perSecond: 1, burst: 3 }, () => t, async () => {});
    assert.deepEqual([1, 2, 3, 4].map(() => buckets.tryTake('m1')), [0, 0, 0, 1_000]);
    assert.equal(buckets.tryTake('m2'), 0);
    t = 500;
    assert.equal(buckets.tryTake('m1'), 500);
    t = 1_000;
    assert.deepEqual([buckets.tryTake('m1'), buckets.tryTake('m1')], [0, 1_000]);
    t = 10_000;
    assert.deepEqual([1, 2, 3, 4].map(() => buckets.tryTake('m1')), [0, 0, 0, 1_000]);
  });

  it('take() sleeps until a token is free', async () => {
    let t = 0;
    const slept: number[] = [];
    const buckets = new TokenBuckets({ perSecond: 2, burst: 1 }, () => t, async (ms) => {
      slept.push(ms);
      t += ms;
    });
    for (let i = 0; i < 3; i++) await buckets.take('m');
    assert.deepEqual(slept, [500, 500]);
  });
});
