// The managed `caddy run`: start on loopback, state under the data dir, stop by
// pid, bounded restarts.

import { strict as assert } from 'node:assert';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ForgeError } from '../../specs/errors.ts';
import type { ManagedCaddyEvent } from '../../router/managed-caddy.ts';
import { adminRaw, startCaddyFixture } from './caddy-harness.ts';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('startManagedCaddy', () => {
  test('runs caddy with the generated base config, state in the data dir; stop() ends that pid', async () => {
    const fx = await startCaddyFixture();
    const pid = fx.caddy.pid;
    try {
      assert.ok(pid !== undefined && alive(pid));
      assert.equal(fx.caddy.configPath, join(fx.dataDir, 'caddy', 'caddy.json'));
      const written = JSON.parse(readFileSync(fx.caddy.configPath, 'utf8'));
      const live = await adminRaw(fx.caddy.adminUrl, 'GET', '/config/');
      assert.deepEqual(live.json, written);
      assert.deepEqual(written.apps.http.servers.forge, { listen: [fx.httpAddr], routes: [], automatic_https: { disable: true } });
      assert.equal(written.admin.listen, fx.adminAddr);
      assert.equal(existsSync(fx.caddy.logPath), true);
    } finally {
      await fx.caddy.stop();
    }
    assert.equal(alive(pid), false);
    assert.equal(fx.caddy.pid, undefined);
    await fx.stop();
  });

  test('a caddy that cannot start again is restarted a bounded number of times, then given up', async () => {
    const events: ManagedCaddyEvent[] = [];
    let gaveUp!: () => void;
    const gaveUpOnce = new Promise<void>((resolve) => {
      gaveUp = resolve;
    });
    const fx = await startCaddyFixture({
      maxRestarts: 2,
      restartBackoffMs: 10,
      onEvent: (e) => {
        events.push(e);
        if (e.type === 'gave-up') gaveUp();
      },
    });
    try {
      const pid = fx.caddy.pid;
      assert.ok(pid);
      // Break the base config so every restart exits at once, then kill our own child's pid.
      writeFileSync(fx.caddy.configPath, '{ not json');
      process.kill(pid, 'SIGKILL');
      await gaveUpOnce;
      assert.deepEqual(
        events.map((e) => e.type),
        ['exited', 'restarting', 'exited', 'restarting', 'exited', 'gave-up'],
      );
      assert.deepEqual(
        events.flatMap((e) => (e.type === 'restarting' ? [e.attempt] : [])),
        [1, 2],
      );
      assert.equal(fx.caddy.restarts, 2);
      assert.equal(fx.caddy.pid, undefined);
      await assert.rejects(fx.caddy.ready(), (e: unknown) => e instanceof ForgeError && e.code === 'E_PROVIDER' && /keeps exiting \(2 restarts\)/.test(e.message));
    } finally {
      await fx.stop();
    }
  });
});
