// The loop's default resync period: 30 s for one SQLite process (its own writes nudge it), 2 s for
// replicas on PostgreSQL, where it bounds how late the leader acts on a write a standby took.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultResyncIntervalMs } from '../../reconciler/resync-interval.ts';

test('replicas resync every 2 s, a single process every 30 s', () => {
  assert.equal(defaultResyncIntervalMs(true), 2_000);
  assert.equal(defaultResyncIntervalMs(false), 30_000);
});
