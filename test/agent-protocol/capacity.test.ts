// An agent's claimed capacity: plausible claims are verified, implausible ones are
// kept but marked, and the scheduler never prefers them.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { capacityVerified, PLAUSIBLE_CAPACITY } from '../../providers/agent/capacity.ts';
import { place } from '../../providers/agent/placement.ts';

const GiB = 1024 ** 3;

test('capacityVerified: a real host is, 1 TiB or 10k CPUs is not', () => {
  assert.equal(capacityVerified({ cpus: 64, memoryBytes: 256 * GiB }), true);
  assert.equal(capacityVerified(PLAUSIBLE_CAPACITY), true);
  assert.equal(capacityVerified({ cpus: 2, memoryBytes: 1024 * GiB }), false);
  assert.equal(capacityVerified({ cpus: 10_000, memoryBytes: GiB }), false);
});

test('a fake agent announcing 1 TiB does not attract placements while a verified agent fits', () => {
  const real = { id: 'agt_real', online: true, capacity: { cpus: 4, memoryBytes: 8 * GiB }, capacityVerified: true };
  const fake = { id: 'agt_fake', online: true, capacity: { cpus: 4, memoryBytes: 1024 * GiB }, capacityVerified: false };
  const requests = [0, 1, 2].map((replica) => ({ key: 'web', replica, cpus: 1, memoryBytes: GiB }));
  const { placements } = place(requests, [fake, real], []);
  assert.deepEqual(placements.map((p) => p.agentId), ['agt_real', 'agt_real', 'agt_real']);
  // Only what no verified agent can hold goes to the unverified one.
  const big = place([{ key: 'db', replica: 0, cpus: 1, memoryBytes: 16 * GiB }], [fake, real], []);
  assert.deepEqual(big.placements.map((p) => p.agentId), ['agt_fake']);
});
