// The managed `caddy run`: start on loopback, state under the data dir, stop by
// pid, bounded restarts, and the takeover of a caddy a killed run left behind.

import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ForgeError } from '../../errors/index.ts';
import { startManagedCaddy, type ManagedCaddyEvent } from '../../router/managed-caddy.ts';
import { isOurCaddy, stopStaleCaddy } from '../../router/stale-caddy.ts';
import { alive } from '../helpers/process.ts';
import { adminRaw, startCaddyFixture } from './caddy-harness.ts';

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

  test('a caddy an earlier (killed) run left on the data dir is stopped by its pid file before ours starts on the same ports', async () => {
    // No restarts: once ended, the first caddy must stay down (its supervisor stands for the dead Forge).
    const fx = await startCaddyFixture({ maxRestarts: 0 });
    const orphan = fx.caddy.pid!;
    assert.equal(readFileSync(join(fx.dataDir, 'caddy', 'caddy.pid'), 'utf8').trim(), `${orphan} ${process.pid}`);
    const events: ManagedCaddyEvent[] = [];
    // As if Forge had died without stopping it: start again over the same data dir and ports.
    const next = await startManagedCaddy({
      adminAddr: fx.adminAddr, httpAddr: fx.httpAddr, domain: 'localhost', dataDir: fx.dataDir, server: 'forge',
      startTimeoutMs: 8000, onEvent: (e) => events.push(e),
    });
    try {
      assert.deepEqual(events, [{ type: 'stopped-stale', pid: orphan }]);
      assert.equal(alive(orphan), false);
      assert.notEqual(next.pid, orphan);
      assert.equal((await adminRaw(next.adminUrl, 'GET', '/config/')).status, 200);
      assert.equal(readFileSync(join(fx.dataDir, 'caddy', 'caddy.pid'), 'utf8').trim(), `${next.pid} ${process.pid}`);
    } finally {
      await next.stop();
      await fx.stop();
    }
    assert.equal(existsSync(join(fx.dataDir, 'caddy', 'caddy.pid')), false);
  });

  test('the caddy of a Forge that still runs is left alone; once that Forge is gone, it is ended', async () => {
    const fx = await startCaddyFixture({ maxRestarts: 0 });
    const owner = spawn('sleep', ['30'], { stdio: 'ignore' }); // stands for the other, live Forge
    const pidPath = join(fx.dataDir, 'caddy', 'caddy.pid');
    try {
      writeFileSync(pidPath, `${fx.caddy.pid} ${owner.pid}\n`);
      assert.equal(await stopStaleCaddy(pidPath, fx.caddy.configPath, 2000), null);
      assert.equal(alive(fx.caddy.pid!), true);
      owner.kill('SIGKILL');
      await new Promise((resolve) => owner.once('exit', resolve));
      const caddyPid = fx.caddy.pid!;
      assert.equal(await stopStaleCaddy(pidPath, fx.caddy.configPath, 2000), caddyPid);
      // The caddy is this test's child: it stays a zombie (kill(pid, 0) succeeds) until Node reaps it.
      for (let i = 0; i < 100 && alive(caddyPid); i += 1) await new Promise((resolve) => setTimeout(resolve, 20));
      assert.equal(alive(caddyPid), false);
    } finally {
      owner.kill('SIGKILL');
      await fx.stop();
    }
  });

  test('a pid file naming a process that is not our caddy (a recycled pid) is ignored', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'forge-stale-caddy-'));
    const sleeper = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      const pidPath = join(dir, 'caddy.pid');
      writeFileSync(pidPath, `${sleeper.pid}\n`);
      assert.equal(await stopStaleCaddy(pidPath, join(dir, 'caddy.json'), 1000), null);
      assert.equal(alive(sleeper.pid!), true);
      assert.equal(existsSync(pidPath), false);
      assert.equal(await stopStaleCaddy(pidPath, join(dir, 'caddy.json'), 1000), null, 'no pid file');
    } finally {
      sleeper.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('isOurCaddy: only `caddy run --config <this config>`', () => {
    const config = '/data/caddy/caddy.json';
    const table: Array<[string[], boolean]> = [
      [['/usr/bin/caddy', 'run', '--config', config], true],
      [['caddy', 'run', '--config', config], true],
      [['/usr/bin/caddy', 'run', '--config', '/other/caddy.json'], false],
      [['/usr/bin/caddy', 'reverse-proxy', '--config', config], false],
      [['/usr/bin/notcaddy', 'run', '--config', config], false],
      [['sleep', '30'], false],
      [[], false],
    ];
    for (const [argv, expected] of table) assert.equal(isOurCaddy(argv.join('\0') + '\0', config), expected, argv.join(' '));
  });
});

