// A real fleet on one machine (issue 14): a control-plane host, two worker hosts,
// a proxy host (caddy) and a laptop, each its own network namespace with its own
// address and its own private data dir. The source folder exists only on the
// laptop: every other host runs in a mount namespace where the laptop's folder
// (and, for workers, the control plane's) is covered by an empty tmpfs, so a
// worker that tried to read a path there would find nothing. Traffic stays on
// the namespaces' bridge. Everything created is removed in after(), also on failure.

import assert from 'node:assert/strict';
import { execFile, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { sweepSandboxes } from '../../agent/sandbox/index.ts';
import { eventually } from '../helpers/net.ts';
import { createFleet, type Fleet } from './netns.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const needsRoot = process.getuid?.() === 0 ? false : 'needs root for network namespaces, cgroups and mounts';
const TOKEN = 'fleet-registration-token';

function appSource(version: string): string {
  return `const http = require('http');
console.log('web ${version} starting');
http.createServer((req, res) => {
  if (req.url.startsWith('/mark-')) console.log('web ${version} served ' + req.url);
  res.end(req.url === '/health' ? 'ok' : 'hello ${version}\\n');
}).listen(Number(process.env.PORT), '0.0.0.0');
`;
}

describe('multi-host fleet (network namespaces, separate data dirs)', { skip: needsRoot }, () => {
  let fleet: Fleet;
  const dirs: Record<string, string> = {};
  const children: ChildProcess[] = [];
  const cgroupRoots: string[] = [];
  let api = { url: '', apiKey: '' };
  let appDir = '';

  /** Runs `argv` in a host's network namespace with `hidden` folders covered by empty tmpfs mounts. */
  function startIn(host: string, hidden: string[], argv: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
    const mounts = hidden.map((_, i) => `mount -t tmpfs -o size=1m tmpfs "$${i + 1}"`).join(' && ');
    const script = `${mounts}${mounts ? ' && ' : ''}shift ${hidden.length}; exec "$@"`;
    const child = fleet.spawnIn(host, ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', script, 'sh', ...hidden, ...argv], {
      env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    if (process.env.FLEET_DEBUG) child.stderr!.on('data', (chunk: Buffer) => process.stderr.write(`[${host}] ${chunk.toString()}`));
    return child;
  }

  function onLaptop(argv: string[], timeoutMs = 180_000): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      execFile('ip', ['netns', 'exec', fleet.hosts.laptop!.ns, ...argv], {
        cwd: dirs.laptop, timeout: timeoutMs, env: { ...process.env, FORGE_URL: api.url, FORGE_API_KEY: api.apiKey, NO_COLOR: '1' },
      }, (error, stdout, stderr) => resolve({ code: error ? Number((error as { code?: unknown }).code ?? 1) : 0, stdout, stderr }));
    });
  }
  const forge = (...args: string[]) => onLaptop(['node', path.join(ROOT, 'bin/forge'), ...args]);
  let lastProxyAnswer = '';
  const throughProxy = async () => {
    const r = await onLaptop(['curl', '-sS', '-m', '3', '-H', 'Host: web.localhost', `http://${fleet.hosts.proxy!.ip}:8088/`], 10_000);
    lastProxyAnswer = r.code === 0 ? r.stdout : `curl failed: ${r.stderr}`;
    if (process.env.FLEET_DEBUG) process.stderr.write(`proxy: ${lastProxyAnswer}\n`);
    return lastProxyAnswer;
  };
  /**
   * Every process of a host: those in its network namespace and their descendants
   * (a sandboxed app has a network namespace of its own, below its host's agent).
   */
  function hostPids(host: string): number[] {
    const children = new Map<number, number[]>();
    for (const name of readdirSync('/proc')) {
      if (!/^\d+$/.test(name)) continue;
      try {
        const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
        const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
        children.set(ppid, [...(children.get(ppid) ?? []), Number(name)]);
      } catch { /* gone */ }
    }
    const found = new Set<number>();
    const walk = (pid: number) => {
      if (found.has(pid)) return;
      found.add(pid);
      for (const child of children.get(pid) ?? []) walk(child);
    };
    for (const pid of fleet.pidsIn(host)) walk(pid);
    return [...found];
  }
  /** Which worker host runs the app (a process with server.js among the host's processes). */
  function appHost(): string | undefined {
    return ['w1', 'w2'].find((w) => hostPids(w).some((pid) => {
      try { return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('server.js'); } catch { return false; }
    }));
  }
  /** The app in its own network namespace, not its host's: the sandbox's network is in force. */
  function appHasOwnNetwork(host: string): boolean {
    const hostNs = statSync(`/run/netns/${fleet.hosts[host]!.ns}`).ino;
    return hostPids(host).some((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('server.js') && statSync(`/proc/${pid}/ns/net`).ino !== hostNs;
      } catch { return false; }
    });
  }

  before(async () => {
    fleet = createFleet(['cp', 'w1', 'w2', 'proxy', 'laptop']);
    for (const host of ['cp', 'w1', 'w2', 'proxy', 'laptop']) dirs[host] = mkdtempSync(path.join(tmpdir(), `forge-fleet-${host}-`));
    appDir = path.join(dirs.laptop!, 'web');
    mkdirSync(appDir);
    writeFileSync(path.join(appDir, 'server.js'), appSource('v1'));
    writeFileSync(path.join(appDir, '.forgeignore'), 'notes.txt\n');
    writeFileSync(path.join(appDir, 'notes.txt'), 'on the laptop only, listed in .forgeignore\n');
    writeFileSync(path.join(appDir, 'forge.yaml'), [
      'name: web', 'provider: agent', 'source: .', 'build:', '  commands: []', 'run:', '  command: node server.js',
      'health:', '  path: /health', '  interval: 300ms', '  timeout: 2s', '  retries: 2', '',
    ].join('\n'));

    const proxy = fleet.hosts.proxy!;
    writeFileSync(path.join(dirs.proxy!, 'caddy.json'), JSON.stringify({ admin: { listen: `${proxy.ip}:2019` } }));
    startIn('proxy', [dirs.laptop!, dirs.cp!], ['caddy', 'run', '--config', path.join(dirs.proxy!, 'caddy.json')], {
      HOME: dirs.proxy, XDG_DATA_HOME: dirs.proxy, XDG_CONFIG_HOME: dirs.proxy,
    });
    await eventually('caddy admin on the proxy host', 30_000, async () => (await onLaptop(['curl', '-sf', '-m', '2', `http://${proxy.ip}:2019/config/`], 5_000)).code === 0);

    const cp = fleet.hosts.cp!;
    const plane = startIn('cp', [dirs.laptop!], ['node', '--import', 'tsx', path.join(ROOT, 'test/multihost/plane-child.ts'),
      dirs.cp!, `${cp.ip}:8080`, `http://${proxy.ip}:2019`, `${proxy.ip}:8088`, TOKEN]);
    api = await new Promise((resolve, reject) => {
      let text = '';
      plane.stdout!.on('data', (chunk: Buffer) => {
        text += chunk.toString();
        const line = text.split('\n').find((l) => l.startsWith('{'));
        if (line) resolve(JSON.parse(line) as typeof api);
      });
      plane.once('exit', (code) => reject(new Error(`control plane exited (${code})`)));
    });

    const agentLogs: Record<string, string> = { w1: '', w2: '' };
    for (const [name, from] of [['w1', 23_000], ['w2', 23_100]] as const) {
      const root = `forge-fleet-${name}-${process.pid}`;
      cgroupRoots.push(root);
      const agent = startIn(name, [dirs.laptop!, dirs.cp!], ['node', path.join(ROOT, 'bin/forge'), 'agent', '--server', api.url, '--token', TOKEN,
        '--data-dir', dirs[name]!, '--host', fleet.hosts[name]!.ip, '--name', name, '--cgroup-root', root,
        '--port-range', `${from}-${from + 99}`, '--metrics-port', '0'],
        // Production mode: the agent refuses to run an app without its full sandbox (own user, mount,
        // PID and network namespace with pasta forwarding <worker address>/<port>, cgroup, disk limit).
        { FORGE_MODE: 'production' });
      agent.stderr!.on('data', (chunk: Buffer) => { agentLogs[name] += chunk.toString(); });
    }
    await eventually('both agents registered', 60_000, () => /registered as/.test(agentLogs.w1!) && /registered as/.test(agentLogs.w2!));
  });

  after(async () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    fleet?.destroy();
    for (const root of cgroupRoots) await sweepSandboxes(root).catch(() => undefined);
    for (const dir of Object.values(dirs)) rmSync(dir, { recursive: true, force: true });
  });

  test('apply from the laptop, edit, rollback, lose a worker', async () => {
    const first = await forge('apply', '-f', path.join(appDir, 'forge.yaml'), '--timeout', '2m');
    assert.equal(first.code, 0, `${first.stdout}\n${first.stderr}`);
    if (process.env.FLEET_DEBUG) {
      process.stderr.write(`apply: ${first.stdout}\n${first.stderr}\napi: ${JSON.stringify(api)}\n`);
      await new Promise((r) => setTimeout(r, 3000));
      process.stderr.write(`caddy: ${(await onLaptop(['curl', '-sS', `http://${fleet.hosts.proxy!.ip}:2019/config/`])).stdout}\n`);
      process.stderr.write(`get: ${(await forge('get', 'web')).stdout}\n`);
    }
    assert.match(first.stderr, /web: uploading bundle sha256:[0-9a-f]{12}… \(3 files, /, 'the .forgeignore itself ships; notes.txt does not');
    assert.equal(await eventually('v1 through the proxy', 60_000, async () => (await throughProxy()) === 'hello v1\n' && 'hello v1\n'), 'hello v1\n');
    const host = appHost();
    assert.ok(host, 'the app runs on a worker host');
    assert.ok(appHasOwnNetwork(host), 'the app has a network namespace of its own');
    assert.ok(lastProxyAnswer !== '');

    writeFileSync(path.join(appDir, 'server.js'), appSource('v2'));
    const second = await forge('apply', '-f', path.join(appDir, 'forge.yaml'), '--timeout', '2m');
    assert.equal(second.code, 0, `${second.stdout}\n${second.stderr}`);
    await eventually('v2 through the proxy', 60_000, async () => (await throughProxy()) === 'hello v2\n');

    const back = await forge('rollback', 'web');
    assert.equal(back.code, 0, `${back.stdout}\n${back.stderr}`);
    await eventually('v1 again after the rollback', 90_000, async () => (await throughProxy()) === 'hello v1\n');

    // `forge logs -f` is its own step below (after the worker loss: it streams from the survivor).

    const victim = await eventually('the app on one worker', 30_000, () => appHost());
    const survivor = victim === 'w1' ? 'w2' : 'w1';
    // The whole host goes: its agent, pasta and the sandboxed app.
    for (const pid of hostPids(victim)) {
      try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    }
    await eventually(`the app moved to ${survivor}`, 120_000, () => appHost() === survivor);
    try {
      await eventually('v1 through the proxy from the surviving worker', 60_000, async () => (await throughProxy()) === 'hello v1\n');
    } finally {
      if (process.env.FLEET_DEBUG) {
        process.stderr.write(`caddy: ${(await onLaptop(['curl', '-sS', `http://${fleet.hosts.proxy!.ip}:2019/config/`])).stdout}\n`);
        process.stderr.write(`get: ${(await forge('get', 'web')).stdout}\n${(await forge('events', 'web')).stdout}\n`);
      }
    }
  });

  test('forge logs -f (the real CLI, streaming from the laptop) shows lines the app prints, as they are printed', async () => {
    const follower = fleet.spawnIn('laptop', ['node', path.join(ROOT, 'bin/forge'), 'logs', 'web', '-f'], {
      cwd: dirs.laptop, env: { ...process.env, FORGE_URL: api.url, FORGE_API_KEY: api.apiKey, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(follower);
    let out = '';
    follower.stdout!.on('data', (chunk: Buffer) => { out += chunk.toString(); });
    follower.stderr!.on('data', (chunk: Buffer) => { out += chunk.toString(); });
    const starts = () => out.split('\n').filter((line) => line.includes('web v1 starting')).length;
    try {
      await eventually('the stored tail shows the app\'s own line', 30_000, () => (starts() > 0 ? true : undefined));
      // A request makes the app print a line now: it must arrive on the stream that is already open.
      const mark = `/mark-${process.pid}-${Date.now()}`;
      const asked = await onLaptop(['curl', '-sS', '-m', '5', '-H', 'Host: web.localhost', `http://${fleet.hosts.proxy!.ip}:8088${mark}`], 10_000);
      assert.equal(asked.stdout, 'hello v1\n', asked.stderr);
      try {
        await eventually('the line printed for the request streamed to the follower', 30_000, () => out.includes(`stdout web v1 served ${mark}`));
      } catch (error) {
        const stored = await forge('logs', 'web', '--tail', '50');
        throw new Error(`${(error as Error).message}\nfollower saw:\n${out}\nstored:\n${stored.stdout}${stored.stderr}`);
      }
      assert.equal(follower.exitCode, null, `still following: ${out}`);
    } finally {
      follower.kill('SIGTERM');
    }
  });

  test('nothing is shared on disk: no process outside the laptop sees its source folder; workers built from their own bundle copies', async () => {
    const hostDirs = Object.entries(dirs);
    for (const [a, dirA] of hostDirs) {
      for (const [b, dirB] of hostDirs) {
        if (a !== b) assert.ok(!`${dirA}/`.startsWith(`${dirB}/`), `${a}'s data dir is not inside ${b}'s`);
      }
    }
    let looked = 0;
    for (const host of ['cp', 'w1', 'w2', 'proxy']) {
      for (const pid of fleet.pidsIn(host)) {
        // /proc/<pid>/root is that process's view of the filesystem (its mount namespace).
        let sees: boolean;
        try { sees = existsSync(`/proc/${pid}/root${path.join(appDir, 'server.js')}`); } catch { continue; }
        looked += 1;
        assert.equal(sees, false, `pid ${pid} on ${host} can read the laptop's source folder`);
      }
    }
    assert.ok(looked > 0, 'some process on the other hosts was checked');
    const host = await eventually('the app on a worker', 30_000, () => appHost());
    const cached = path.join(dirs[host]!, 'bundles');
    const copies = readdirSync(cached).filter((n) => /^[0-9a-f]{64}$/.test(n));
    assert.ok(copies.length >= 2, `${host} holds the bundles it fetched by digest (v1, v2): ${copies.join(', ')}`);
    const v1 = copies.filter((n) => readFileSync(path.join(cached, n, 'server.js'), 'utf8').includes("'hello v1"));
    assert.equal(v1.length, 1, 'the v1 bundle (the rollback target) is there, extracted, under its digest');
    assert.equal(existsSync(path.join(cached, v1[0]!, 'notes.txt')), false, '.forgeignore honoured');
  });
});
