// A failed start's output reaches the control plane before its failure does: `forge apply`
// reports the failure from the task's result, and a `forge logs` right after it must find
// the app's lines. The log route is slowed here so that a result sent without waiting for
// the shipper would land first.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { eventually, loadExample, startControlPlane, type ControlPlane } from './harness.ts';

const needsRoot = process.getuid?.() === 0 ? false : 'agents need root for cgroups and namespaces';

describe('failed start: logs before the result', { skip: needsRoot }, () => {
  test('when a run task fails, the app\'s last lines are already in the store', { timeout: 90_000 }, async () => {
    const plane: ControlPlane = await startControlPlane({
      heartbeatTimeoutMs: 5_000, leaseMs: 10_000,
      beforeListen: (app) => app.addHook('preHandler', async (request) => {
        if (request.method === 'POST' && request.url.endsWith('/logs')) await sleep(800);
      }),
    });
    try {
      await plane.startAgent('a', { portRange: { from: 24_500, to: 24_520 } });
      // node-hello's source, started with a command that says why it cannot run and exits.
      const hello = await loadExample('node-hello');
      plane.deploy([{ ...hello, name: 'exits', run: { ...hello.run!, command: 'echo "starting exits"; echo "DATABASE_URL is not set" >&2; exit 1' } }]);
      const failed = await eventually('a failed run task', 60_000, async () =>
        plane.store.tasks.listFor('exits').find((t) => t.kind === 'run' && t.state === 'failed'));
      const lines = plane.store.logs.list('exits', { tail: 100, limit: 100 }).map((row) => `${row.stream} ${row.line}`);
      assert.ok(lines.includes('stderr DATABASE_URL is not set'), `task ${failed.id} failed with only these lines stored: ${JSON.stringify(lines)}`);
      assert.ok(lines.includes('stdout starting exits'));
    } finally {
      await plane.close();
    }
  });
});
