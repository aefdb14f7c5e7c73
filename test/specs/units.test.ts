import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCpuTier, parseDurationMs, parseMemoryMb } from '../../specs/units.ts';

test('memory sizes normalize to MB', () => {
  const cases: [unknown, number | undefined][] = [
    [512, 512],
    ['512', 512],
    ['256M', 256],
    ['256Mi', 256],
    ['256MB', 256],
    ['1G', 1024],
    ['1Gi', 1024],
    ['2GB', 2048],
    ['1.5Gi', 1536],
    ['0.3G', undefined], // 307.2 MB is not a whole number
    ['10x', undefined],
    ['256 M', undefined],
    ['-1G', undefined],
    [1.5, undefined],
    [true, undefined],
    [null, undefined],
  ];
  for (const [input, expected] of cases) assert.equal(parseMemoryMb(input), expected, `memory ${JSON.stringify(input)}`);
});

test('durations normalize to milliseconds', () => {
  const cases: [unknown, number | undefined][] = [
    ['1500ms', 1500],
    ['10s', 10_000],
    ['3s', 3000],
    ['2m', 120_000],
    ['0s', 0],
    ['10', undefined],
    ['10x', undefined],
    ['1.5s', undefined],
    ['1h', undefined],
    [10, undefined],
  ];
  for (const [input, expected] of cases) assert.equal(parseDurationMs(input), expected, `duration ${JSON.stringify(input)}`);
});

test('cpu tiers split into kind and count', () => {
  const cases: [unknown, ReturnType<typeof parseCpuTier>][] = [
    ['shared-1x', { kind: 'shared', count: 1 }],
    ['shared-2x', { kind: 'shared', count: 2 }],
    ['performance-16x', { kind: 'performance', count: 16 }],
    ['shared-3x', undefined],
    ['dedicated-1x', undefined],
    ['shared-1', undefined],
    [2, undefined],
  ];
  for (const [input, expected] of cases) assert.deepEqual(parseCpuTier(input), expected, `tier ${JSON.stringify(input)}`);
});
