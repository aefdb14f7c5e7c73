// The agent's default number of tasks at once: four per host CPU, at least 4, at most 32.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultTaskSlots } from '../../agent/task-slots.ts';

test('four task slots per host CPU, never fewer than 4 nor more than 32', () => {
  const cases: Array<[number, number]> = [[1, 4], [2, 8], [3, 12], [8, 32], [64, 32], [0, 4], [Number.NaN, 4], [2.5, 8]];
  for (const [cpus, slots] of cases) assert.equal(defaultTaskSlots(cpus), slots, `${cpus} CPUs`);
});
