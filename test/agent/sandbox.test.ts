// The sandbox against the real kernel (CI runs as root): detection, limits,
// OOM and pids-limit classification, fail-closed production, clean destroy.

import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { createSandbox, defaultStateDir, detectIsolation, sweepSandboxes, type Sandbox, type SandboxOptions } from '../../agent/sandbox/index.ts';
import { locateV2, parseMountinfo } from '../../agent/sandbox/paths.ts';
import { freePort } from '../helpers/net.ts';

const ROOT = `forge-test-${process.pid}`;
const needsRoot = process.getuid?.() === 0 ? false : 'needs root for cgroups and namespaces';
const PATH_ONLY = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
const LIMITS: Omit<SandboxOptions, 'id'> = { memoryMb: 64, cpus: 0.5, pidsMax: 32, mode: 'production', root: ROOT };

const opened: Sandbox[] = [];
async function sandbox(id: string, overrides: Partial<typeof LIMITS> = {}): Promise<Sandbox> {
  const sb = await createSandbox({ ...LIMITS, ...overrides, id });
  opened.push(sb);
  return sb;
}

after(async () => {
  for (const sb of opened) await sb.destroy(0).catch(() => undefined);
  if (needsRoot === false) await sweepSandboxes(ROOT);
});

/** The first chunk a command writes to stdout (its first instruction ran by then). */
function firstOutput(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    child.stdout?.once('data', (d: Buffer) => resolve(d.toString()));
    child.once('exit', () => reject(new Error('exited before any output')));
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** What this host should give us, read independently of detect.ts's probing. */
function expectedCgroupVersion(): 'v1' | 'v2' {
  const mount = locateV2(parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8')));
  if (mount === undefined) return 'v1';
  const controllers = readFileSync(`${mount}/cgroup.controllers`, 'utf8').split(/\s+/);
  return controllers.includes('memory') && controllers.includes('cpu') ? 'v2' : 'v1';
}

describe('sandbox on the real kernel', { skip: needsRoot }, () => {
  test('detection finds the hierarchy this host really has, with namespaces', async () => {
    const info = await detectIsolation({ root: ROOT, fresh: true });
    assert.equal(info.cgroup, expectedCgroupVersion());
    assert.deepEqual(info.controllers, ['memory', 'cpu', 'pids']);
    assert.equal(info.namespaces, true);
    assert.match(info.reason, info.cgroup === 'v1' ? /^cgroup v1 \(memory, cpu, pids\) because v2 is not usable/ : /^cgroup v2 at /);
  });

  test('limits are written to the cgroup files', async () => {
    const sb = await sandbox('limits');
    const files = (name: string) => sb.cgroupDirs.map((d) => `${d}/${name}`).filter(existsSync);
    const read = (name: string) => files(name).map((f) => readFileSync(f, 'utf8').trim());
    // The CPU limit goes in force when a command starts (the start gate), the others at once.
    const running = await sb.spawn('echo started; sleep 5', { cwd: '/tmp', env: PATH_ONLY });
    await firstOutput(running.child);
    if (sb.isolation.cgroup === 'v2') {
      assert.deepEqual(read('memory.max'), ['67108864']);
      assert.deepEqual(read('cpu.max'), ['50000 100000']);
    } else {
      assert.deepEqual(read('memory.limit_in_bytes'), ['67108864']);
      assert.deepEqual(read('cpu.cfs_quota_us'), ['50000']);
      assert.deepEqual(read('cpu.cfs_period_us'), ['100000']);
    }
    assert.deepEqual(read('pids.max'), ['32']);
    await sb.destroy(0);
  });

  test("the CPU limit is in force by each command's first instruction, also for a second command in the same sandbox", async () => {
    const sb = await sandbox('cpu-gate');
    const quota = () => sb.cgroupDirs.map((d) => `${d}/${sb.isolation.cgroup === 'v2' ? 'cpu.max' : 'cpu.cfs_quota_us'}`).filter(existsSync)
      .map((f) => readFileSync(f, 'utf8').trim());
    const limit = sb.isolation.cgroup === 'v2' ? '50000 100000' : '50000';
    for (const step of [1, 2]) {
      const proc = await sb.spawn(`echo step ${step}; sleep 0.2`, { cwd: '/tmp', env: PATH_ONLY });
      // The command's first instruction printed: whatever it does next runs under the limit.
      assert.equal(await firstOutput(proc.child), `step ${step}\n`);
      assert.deepEqual(quota(), [limit]);
      assert.equal((await proc.exited).code, 0);
    }
    await sb.destroy(0);
  });

  test('a memory hog is OOM-killed inside a 64 MB limit and reported as OOM', async () => {
    const sb = await sandbox('oom');
    assert.equal(sb.confined, true);
    // At most 1 GiB, so a broken limit ends the test instead of the host.
    const hog = `"${process.execPath}" -e "const a = []; for (let i = 0; i < 1024; i++) a.push(Buffer.alloc(1 << 20, 1)); console.log('survived')"`;
    const proc = await sb.spawn(hog, { cwd: '/tmp', env: PATH_ONLY });
    proc.child.stdout?.resume();
    proc.child.stderr?.resume();
    const exit = await proc.exited;
    assert.deepEqual({ reason: exit.reason, message: exit.message }, { reason: 'oom', message: 'OOM-killed at 64 MB limit' });
    await sb.destroy(0);
  });

  test('a bounded fork bomb is stopped by pids.max=32 and reported as the process limit', async () => {
    const sb = await sandbox('forks', { memoryMb: 256 });
    // 100 background sleeps, each over in 5 s: bounded in count and time.
    const bomb = 'i=0; while [ $i -lt 100 ]; do sleep 5 & i=$((i+1)); done; wait';
    const proc = await sb.spawn(bomb, { cwd: '/tmp', env: PATH_ONLY });
    let output = '';
    proc.child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    proc.child.stdout?.resume();
    let maxSeen = 0;
    let done = false;
    const exited = proc.exited.then((e) => ((done = true), e));
    for (let i = 0; i < 200 && !done; i++) {
      maxSeen = Math.max(maxSeen, (await sb.pids()).length);
      await new Promise((r) => setTimeout(r, 10));
    }
    const exit = await exited;
    assert.equal(exit.reason, 'pids-limit');
    assert.equal(exit.message, 'stopped by the process limit: fork refused at pids.max=32');
    assert.match(output, /Cannot fork/);
    assert.ok(maxSeen <= 32, `saw ${maxSeen} processes in the cgroup`);
    const peak = sb.cgroupDirs.map((d) => `${d}/pids.peak`).find(existsSync);
    if (peak !== undefined) assert.equal(Number(readFileSync(peak, 'utf8')), 32);
    await sb.destroy(0);
  });

  test('production mode with isolation forced off refuses to run', async () => {
    await assert.rejects(createSandbox({ ...LIMITS, id: 'refused', isolation: 'off' }), {
      code: 'E_ISOLATION_UNAVAILABLE',
      message: 'refusing to run refused without isolation in production mode: isolation forced off by FORGE_ISOLATION=off',
    });
    await assert.rejects(createSandbox({ ...LIMITS, id: 'refused', env: { FORGE_ISOLATION: 'off' } }), {
      code: 'E_ISOLATION_UNAVAILABLE',
    });
  });

  test('development mode with isolation off runs unconfined and says so', async () => {
    const sb = await sandbox('dev', { mode: 'development' });
    assert.equal(sb.confined, true, 'isolation is available here, so development is confined too');
    const off = await createSandbox({ ...LIMITS, mode: 'development', id: 'dev-off', isolation: 'off' });
    opened.push(off);
    assert.equal(off.confined, false);
    assert.deepEqual(off.cgroupDirs, []);
    assert.equal(off.warning, 'running dev-off with reduced isolation (development mode): isolation forced off by FORGE_ISOLATION=off');
    const proc = await off.spawn('echo unconfined', { cwd: '/tmp', env: PATH_ONLY });
    let out = '';
    proc.child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    const exit = await proc.exited;
    assert.deepEqual([exit.reason, exit.code, out], ['exited', 0, 'unconfined\n']);
    await off.destroy(0);
    await sb.destroy(0);
  });

  test('production refuses when the runtime pieces are missing, naming each and how to get it; development runs with less and says so', async () => {
    // An agent whose PATH has no crun, pasta or ip (a separate cgroup root: detection is cached per root).
    const bare = { PATH: '/nonexistent' };
    const root = `${ROOT}-bare`;
    await assert.rejects(createSandbox({ ...LIMITS, root, id: 'bare', env: bare }), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'E_ISOLATION_UNAVAILABLE');
      assert.match(err.message, /^refusing to run bare without isolation in production mode: .*missing the OCI runtime crun \(apt-get install crun\), pasta for network namespaces \(apt-get install passt\), iproute2 for network namespaces \(apt-get install iproute2\)$/);
      return true;
    });
    const dev = await createSandbox({ ...LIMITS, root, mode: 'development', id: 'bare-dev', env: bare });
    opened.push(dev);
    assert.equal(dev.confined, false);
    assert.equal(dev.contained, false);
    assert.match(dev.warning ?? '', /^running bare-dev with reduced isolation \(development mode\): .*missing the OCI runtime crun/);
    await dev.destroy(0);
    await sweepSandboxes(root);
  });

  test('a command that cannot start (missing work dir) says so', async () => {
    const sb = await sandbox('nostart');
    const proc = await sb.spawn('true', { cwd: '/nonexistent/forge-test-dir', env: PATH_ONLY });
    assert.deepEqual(await proc.exited, { reason: 'exited', code: 127, signal: null, message: 'could not start: spawn /bin/sh ENOENT' });
    await sb.destroy(0);
  });

  test('destroy kills everything inside and leaves no cgroup directory', async () => {
    const sb = await sandbox('destroy');
    const proc = await sb.spawn('sleep 100 & sleep 100 & wait', { cwd: '/tmp', env: PATH_ONLY });
    let pids: number[] = [];
    // unshare + init shell + run shell + two sleeps.
    for (let i = 0; i < 200 && pids.length < 5; i++) {
      pids = await sb.pids();
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(pids.length, 5);
    const dirs = sb.cgroupDirs;
    assert.equal(dirs.length > 0, true);
    await sb.destroy(2_000);
    const exit = await proc.exited;
    assert.equal(exit.reason, 'stopped');
    assert.deepEqual(dirs.filter(existsSync), []);
    assert.deepEqual(pids.filter(alive), []);
  });

  test("listening() follows the app's own socket in its network namespace (pasta accepts on the host before)", async (t) => {
    const port = await freePort();
    const sb = await sandbox('listen', { memoryMb: 256, network: { port, bindHost: '127.0.0.1', egress: true } });
    if (!sb.confined) return t.skip('no own network namespace here');
    // Listens only when told (SIGUSR2), so each answer below is asked at a known moment.
    const app = `"${process.execPath}" -e "const s = require('net').createServer(); process.on('SIGUSR2', () => s.listen(${port}, () => console.log('listening'))); console.log('ready'); setTimeout(() => {}, 20000)"`;
    const proc = await sb.spawn(app, { cwd: '/tmp', env: PATH_ONLY });
    const lines: string[] = [];
    const said = (line: string) => new Promise<void>((resolve) => {
      const check = () => (lines.includes(line) ? resolve() : proc.child.stdout?.once('data', (d: Buffer) => { lines.push(...d.toString().split('\n')); check(); }));
      check();
    });
    await said('ready');
    assert.equal(await sb.listening(port), false);
    assert.equal(await sb.listening(port), false); // asked again: the namespace member found first
    const node = (await sb.pids()).find((pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('SIGUSR2') && readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'node');
    assert.ok(node !== undefined, 'the app process is in the sandbox');
    process.kill(node, 'SIGUSR2');
    await said('listening');
    assert.equal(await sb.listening(port), true);
    assert.equal(await sb.listening(port + 1), false);
    await sb.destroy(0);
  });

  test('no container state or bundle is left behind, whether the command ended by itself or was killed', async (t) => {
    const sb = await sandbox('leftovers');
    if (!sb.contained) return t.skip('no crun here: nothing of crun to leave behind');
    const ended = await sb.spawn('true', { cwd: '/tmp', env: PATH_ONLY });
    assert.equal((await ended.exited).code, 0);
    // Ignores SIGTERM, so destroy SIGKILLs crun with it: crun cannot clean up after itself.
    const killed = await sb.spawn("trap '' TERM; sleep 100", { cwd: '/tmp', env: PATH_ONLY });
    for (let i = 0; i < 200 && (await sb.pids()).length < 3; i++) await new Promise((r) => setTimeout(r, 10));
    await sb.destroy(0);
    assert.equal((await killed.exited).reason, 'stopped');
    const stateDir = defaultStateDir(ROOT);
    const ours = (dir: string) => readdirSync(dir).filter((name) => name.startsWith('leftovers'));
    assert.deepEqual(ours(path.join(stateDir, 'crun')), []);
    assert.deepEqual(ours(path.join(stateDir, 'bundles')), []);
  });
});
