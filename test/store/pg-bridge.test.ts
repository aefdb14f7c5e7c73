// The synchronous PostgreSQL bridge: every call gets its own answer, also after a call that gave
// up waiting (whose answer arrives later and must not be handed to the next call), and a call
// that gave up leaves no transaction open behind it.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { openPgBridge, type PgBridge } from '../../store/pg-bridge.ts';
import { type PgCluster, postgresSkipReason, startPgCluster } from './pg-cluster.ts';

const skip = postgresSkipReason();
const GIVE_UP_MS = 300;

function opened(url: string): PgBridge {
  const bridge = openPgBridge(url);
  bridge.call({ op: 'query', text: 'SELECT 1' }); // connected before a call is timed
  return bridge;
}

describe('pg bridge', skip === undefined ? {} : { skip }, () => {
  let cluster: PgCluster | null = null;
  before(async () => {
    cluster = await startPgCluster();
  });
  after(async () => {
    await cluster?.stop();
  });

  test('a call that timed out does not hand its late answer to the next call', async () => {
    const bridge = opened((cluster as PgCluster).adminUrl);
    try {
      assert.throws(() => bridge.call({ op: 'query', text: "SELECT pg_sleep(1), 'late' AS what" }, GIVE_UP_MS), { code: 'E_STORE' });
      // The late answer arrives before the next call (bounded wait for the slow query to end).
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      assert.deepEqual(bridge.call({ op: 'query', text: "SELECT 'next' AS what" }).rows, [{ what: 'next' }]);
      assert.deepEqual(bridge.call({ op: 'query', text: "SELECT 'after' AS what" }).rows, [{ what: 'after' }]);
    } finally {
      bridge.close();
    }
  });

  test('a call that timed out, followed at once by another, gets that one its own answer', () => {
    const bridge = opened((cluster as PgCluster).adminUrl);
    try {
      assert.throws(() => bridge.call({ op: 'query', text: "SELECT pg_sleep(1), 'late' AS what" }, GIVE_UP_MS), { code: 'E_STORE' });
      assert.deepEqual(bridge.call({ op: 'query', text: "SELECT 'next' AS what" }).rows, [{ what: 'next' }]);
    } finally {
      bridge.close();
    }
  });

  test('a call that timed out leaves no transaction open: the session is reset, its locks released', async () => {
    const url = (cluster as PgCluster).adminUrl;
    const bridge = opened(url);
    const other = opened(url);
    try {
      assert.throws(() => bridge.call({ op: 'query', text: 'BEGIN; SELECT pg_advisory_xact_lock(4242); SELECT pg_sleep(1)' }, GIVE_UP_MS), { code: 'E_STORE' });
      // Bounded: the late statement ends after 1 s; an open transaction would hold the lock for good.
      let free = false;
      for (let i = 0; i < 100 && !free; i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        free = other.call({ op: 'query', text: 'SELECT pg_try_advisory_xact_lock(4242) AS ok' }).rows[0]?.ok === 1;
      }
      assert.equal(free, true, 'the lock of the abandoned transaction is released');
      assert.deepEqual(bridge.call({ op: 'query', text: 'SELECT 1 AS one' }).rows, [{ one: 1 }]);
    } finally {
      other.close();
      bridge.close();
    }
  });
});
