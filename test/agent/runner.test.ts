// Build, run, logs, ports and health against real processes, sandboxes and sockets.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';
import type { HealthSpec } from '../../specs/types.ts';
import { prepareWorkDir, runBuild, type SandboxLimits } from '../../agent/runner/build.ts';
import { monitorHealth, waitHealthy } from '../../agent/runner/health.ts';
import { LineTail, RotatingLog } from '../../agent/runner/logs.ts';
import { canBind, createPortPool } from '../../agent/runner/ports.ts';
import { startInstance, type InstanceHandle } from '../../agent/runner/run.ts';
import { sweepSandboxes } from '../../agent/sandbox/index.ts';

const ROOT = `forge-test-runner-${process.pid}`;
const needsRoot = process.getuid?.() === 0 ? false : 'needs root for cgroups and namespaces';
const SANDBOX: SandboxLimits = { memoryMb: 256, cpus: 1, pidsMax: 64, mode: 'production', root: ROOT };
const HEALTH: HealthSpec = { type: 'http', path: '/health', intervalMs: 100, timeoutMs: 1_000, retries: 3 };
const NODE_HELLO = fileURLToPath(new URL('../../examples/node-hello', import.meta.url));

const scratch = mkdtempSync(path.join(tmpdir(), 'forge-runner-test-'));
const instances: InstanceHandle[] = [];
const ports = createPortPool();

after(async () => {
  for (const i of instances) await i.stop(0);
  if (needsRoot === false) await sweepSandboxes(ROOT);
  rmSync(scratch, { recursive: true, force: true });
});

function dir(name: string): string {
  const d = path.join(scratch, name);
  mkdirSync(d, { recursive: true });
  return d;
}

async function start(name: string, command: string, extra: { env?: Record<string, string>; secrets?: Record<string, string> } = {}) {
  const port = await ports.allocate();
  const handle = await startInstance({
    id: name,
    workDir: dir(name),
    command,
    port,
    env: extra.env ?? {},
    secrets: extra.secrets,
    sandbox: SANDBOX,
    logDir: dir(`${name}-logs`),
  });
  instances.push(handle);
  void handle.exited.then(() => ports.release(port));
  return handle;
}

describe('logs', () => {
  test('RotatingLog keeps three size-capped files, newest first', () => {
    const file = path.join(dir('rotate'), 'output.log');
    const log = new RotatingLog(file, 100, 3);
    const chunk = (i: number) => `${String(i).padStart(2, '0')}${'x'.repeat(27)}\n`; // 30 bytes
    for (let i = 1; i <= 10; i++) log.write(chunk(i));
    log.close();
    assert.equal(readFileSync(file, 'utf8'), chunk(10));
    assert.equal(readFileSync(`${file}.1`, 'utf8'), chunk(7) + chunk(8) + chunk(9));
    assert.equal(readFileSync(`${file}.2`, 'utf8'), chunk(4) + chunk(5) + chunk(6));
    assert.equal(existsSync(`${file}.3`), false);
  });

  test('LineTail splits chunks per stream and keeps the last lines', () => {
    const seen: string[] = [];
    const tail = new LineTail(3, (line, stream) => seen.push(`${stream}:${line}`));
    tail.push('a\nb', 'stdout');
    tail.push('E1\r\n', 'stderr');
    tail.push('c\nd\n', 'stdout');
    tail.push('last', 'stdout');
    tail.flush();
    assert.deepEqual(seen, ['stdout:a', 'stderr:E1', 'stdout:bc', 'stdout:d', 'stdout:last']);
    assert.deepEqual(tail.tail(2), ['d', 'last']);
    assert.deepEqual(tail.tail(10), ['bc', 'd', 'last']);
  });
});

describe('ports', () => {
  test('a port someone is bound to is never handed out', async () => {
    const server = http.createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as AddressInfo;
    assert.equal(await canBind(port, '127.0.0.1'), false);
    const pool = createPortPool({ from: port, to: port });
    await assert.rejects(pool.allocate(), { code: 'E_UNSCHEDULABLE' });
    await new Promise((r) => server.close(r));
    assert.equal(await pool.allocate(), port);
  });
});

describe('prepareWorkDir', () => {
  test('copies the source without node_modules/.git/.forge and records the commit', async () => {
    const src = dir('src-git');
    writeFileSync(path.join(src, 'server.js'), 'console.log(1)\n');
    mkdirSync(path.join(src, 'node_modules', 'left-pad'), { recursive: true });
    mkdirSync(path.join(src, '.forge'));
    mkdirSync(path.join(src, 'lib'));
    writeFileSync(path.join(src, 'lib', 'a.js'), 'export {}\n');
    const git = (...args: string[]) =>
      execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', '-c', 'safe.directory=*', '-C', src, ...args], { encoding: 'utf8' }).trim();
    git('init', '-q');
    git('add', 'server.js', 'lib');
    git('commit', '-q', '-m', 'one');
    const release = path.join(scratch, 'releases', 'r1');
    const prepared = await prepareWorkDir(src, release);
    assert.deepEqual(prepared, { dir: release, commit: git('rev-parse', 'HEAD') });
    assert.deepEqual(execFileSync('find', ['.', '-mindepth', '1'], { cwd: release, encoding: 'utf8' }).split('\n').filter(Boolean).sort(), [
      './lib',
      './lib/a.js',
      './server.js',
    ]);
  });

  test('a source outside git has no commit', async () => {
    const src = mkdtempSync(path.join(tmpdir(), 'forge-nogit-'));
    try {
      writeFileSync(path.join(src, 'app.py'), 'print(1)\n');
      const prepared = await prepareWorkDir(src, path.join(scratch, 'releases', 'r2'));
      assert.equal(prepared.commit, null);
    } finally {
      rmSync(src, { recursive: true, force: true });
    }
  });
});

describe('builds in the sandbox', { skip: needsRoot }, () => {
  test('commands run in order in the work dir; ps sees only the sandbox', async () => {
    const lines: string[] = [];
    const workDir = dir('build-ok');
    const logFile = path.join(dir('build-ok-logs'), 'build.log');
    const result = await runBuild({
      id: 'build-ok',
      workDir,
      commands: ['echo one', 'echo "two $GREETING" >&2', 'pwd', 'ps ax -o pid=,comm='],
      env: { GREETING: 'hi' },
      sandbox: SANDBOX,
      logFile,
      onLine: (line) => lines.push(line),
    });
    assert.deepEqual(result, { ok: true, steps: 4, warning: null });
    // The work dir is mounted at /app in the sandbox's own root.
    assert.deepEqual(lines.slice(0, 3), ['one', 'two hi', '/app']);
    // Inside the PID namespace: the init shell, the run shell and ps itself; no host process.
    const ps = lines.slice(3).map((l) => l.trim().split(/\s+/));
    assert.deepEqual(ps, [
      ['1', 'sh'],
      ['2', 'sh'],
      ['3', 'ps'],
    ]);
    // The log file holds the same lines, stdout and stderr together.
    assert.equal(readFileSync(logFile, 'utf8'), `${lines.join('\n')}\n`);
  });

  test('the first failing command stops the build with its exit code and last 20 lines', async () => {
    const result = await runBuild({
      id: 'build-fail',
      workDir: dir('build-fail'),
      commands: ['echo ok', 'for i in $(seq 1 30); do echo line $i; done; exit 3', 'echo never'],
      env: {},
      sandbox: SANDBOX,
      logFile: path.join(dir('build-fail-logs'), 'build.log'),
    });
    assert.equal(result.ok, false);
    if (result.ok) return;
    assert.equal(result.step, 2);
    assert.equal(result.exit?.code, 3);
    assert.equal(result.error.code, 'E_BUILD_FAILED');
    assert.equal(result.error.message, 'build step 2/3 failed: exited with code 3');
    assert.deepEqual(result.lastLines, Array.from({ length: 20 }, (_, i) => `line ${i + 11}`));
  });

  test('production with isolation off refuses to build', async () => {
    await assert.rejects(
      runBuild({
        id: 'build-refused',
        workDir: dir('build-refused'),
        commands: ['true'],
        env: {},
        sandbox: { ...SANDBOX, isolation: 'off' },
        logFile: path.join(dir('build-refused-logs'), 'build.log'),
      }),
      { code: 'E_ISOLATION_UNAVAILABLE' },
    );
  });
});

describe('instances', { skip: needsRoot }, () => {
  test('examples/node-hello builds, gets $PORT, passes health, and stops cleanly', async () => {
    const release = path.join(scratch, 'releases', 'node-hello');
    await prepareWorkDir(NODE_HELLO, release);
    const build = await runBuild({
      id: 'node-hello-build',
      workDir: release,
      commands: ['node --check server.js'],
      env: {},
      sandbox: SANDBOX,
      logFile: path.join(dir('node-hello-logs'), 'build.log'),
    });
    assert.equal(build.ok, true);
    const port = await ports.allocate();
    const handle = await startInstance({
      id: 'node-hello',
      workDir: release,
      command: 'node server.js',
      port,
      env: { GREETING: 'hello' },
      sandbox: SANDBOX,
      logDir: dir('node-hello-logs'),
    });
    instances.push(handle);
    const outcome = await waitHealthy({ port, health: HEALTH, exited: handle.exited, tail: () => handle.tail(), listening: handle.listening });
    assert.equal(outcome.healthy, true);
    const body = await fetch(`http://127.0.0.1:${port}/`).then((r) => r.text());
    assert.equal(body, 'hello from node-hello v1\n');
    assert.deepEqual(handle.tail(1), [`node-hello v1 listening on :${port}`]);
    const dirs = handle.sandbox.cgroupDirs;
    const exit = await handle.stop(5_000);
    ports.release(port);
    // node-hello exits 0 on SIGTERM after closing its server.
    assert.deepEqual({ reason: exit.reason, code: exit.code }, { reason: 'stopped', code: 0 });
    assert.deepEqual(dirs.filter(existsSync), []);
    assert.equal(readFileSync(handle.logFile, 'utf8'), `node-hello v1 listening on :${port}\n`);
  });

  test('env, secrets and PORT reach the command; the agent environment does not', async () => {
    process.env.FORGE_TEST_AGENT_ONLY = 'agent-value';
    try {
      const handle = await start('env-check', 'echo "$PORT|$GREETING|$API_TOKEN|${FORGE_TEST_AGENT_ONLY:-absent}"');
      const exit = await handle.exited;
      assert.equal(exit.code, 0);
      assert.deepEqual(handle.tail(5), [`${handle.port}|||absent`]);
    } finally {
      delete process.env.FORGE_TEST_AGENT_ONLY;
    }
    const withSecrets = await start('env-secrets', 'echo "$GREETING|$API_TOKEN"', { env: { GREETING: 'hi' }, secrets: { API_TOKEN: 't0k' } });
    await withSecrets.exited;
    assert.deepEqual(withSecrets.tail(5), ['hi|t0k']);
  });

  test('a process that exits during start-up fails fast with its code and last lines', async () => {
    const handle = await start('exits', 'echo starting; echo "config missing" >&2; exit 7');
    const outcome = await waitHealthy({ port: handle.port, health: HEALTH, exited: handle.exited, tail: () => handle.tail(), listening: handle.listening });
    assert.equal(outcome.healthy, false);
    if (outcome.healthy) return;
    assert.equal(outcome.reason, 'exited');
    assert.equal(outcome.message, 'exited during start-up: exited with code 7');
    if (outcome.reason === 'exited') assert.deepEqual(outcome.lastLines, ['starting', 'config missing']);
  });

  test('a 503 health endpoint is unhealthy: "returned 503 three times"', async () => {
    const server = `node -e "require('http').createServer((q, s) => { s.statusCode = 503; s.end(); }).listen(process.env.PORT)"`;
    const handle = await start('unhealthy', server);
    const outcome = await waitHealthy({ port: handle.port, health: HEALTH, exited: handle.exited, listening: handle.listening });
    assert.deepEqual(outcome, { healthy: false, reason: 'unhealthy', message: 'health check /health returned 503 three times' });
    assert.equal((await handle.stop(2_000)).reason, 'stopped');
  });

  test('a port that never opens is a timeout, distinct from an exit', async () => {
    const handle = await start('silent', 'exec sleep 30');
    const outcome = await waitHealthy({ port: handle.port, health: HEALTH, exited: handle.exited, startTimeoutMs: 300, listening: handle.listening });
    assert.deepEqual(outcome, {
      healthy: false,
      reason: 'timeout',
      message: `did not become healthy within 300 ms: port ${handle.port} never accepted connections`,
    });
    const exit = await handle.stop(2_000);
    assert.deepEqual({ reason: exit.reason, signal: exit.signal }, { reason: 'stopped', signal: 'SIGTERM' });
  });
});

describe('start-up grace and the port the app listens on', { skip: needsRoot }, () => {
  test("an app that ignores $PORT: the timeout says which port its processes listen on and that it must listen on $PORT, within the spec's grace", async () => {
    const wrong = await ports.allocate();
    try {
      const handle = await start('ignores-port', `exec node -e "require('http').createServer((q, s) => s.end()).listen(${wrong}, () => console.log('listening on ${wrong}'))"`);
      for (let i = 0; i < 200 && !handle.tail().includes(`listening on ${wrong}`); i += 1) await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(handle.tail(), [`listening on ${wrong}`]);
      const outcome = await waitHealthy({
        port: handle.port, health: { ...HEALTH, graceMs: 300 }, exited: handle.exited, pids: () => handle.sandbox.pids(),
        listening: handle.listening,
      });
      assert.deepEqual(outcome, {
        healthy: false,
        reason: 'timeout',
        message: `did not become healthy within 300 ms: port ${handle.port} never accepted connections; the app's processes listen on port ${wrong}, but the app must listen on $PORT (${handle.port}). If it only needs longer to start, raise health.grace`,
      });
      await handle.stop(2_000);
    } finally {
      ports.release(wrong);
    }
  });

  test('an app that listens on nothing at all is told so', async () => {
    const handle = await start('listens-nowhere', 'exec sleep 30');
    const outcome = await waitHealthy({ port: handle.port, health: { ...HEALTH, graceMs: 300 }, exited: handle.exited, pids: () => handle.sandbox.pids(), listening: handle.listening });
    assert.equal(outcome.healthy, false);
    assert.equal(outcome.healthy === false && outcome.message,
      `did not become healthy within 300 ms: port ${handle.port} never accepted connections; the app's processes listen on no TCP port, but the app must listen on $PORT (${handle.port}). If it only needs longer to start, raise health.grace`);
    await handle.stop(2_000);
  });
});

describe('monitorHealth', () => {
  test('reports unhealthy after `retries` failures and healthy again after a success', async () => {
    let status = 200;
    const server = http.createServer((_req, res) => res.writeHead(status).end());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as AddressInfo;
    const changes: Array<[string, string | null]> = [];
    let notify: () => void = () => undefined;
    const monitor = monitorHealth({
      port,
      health: { ...HEALTH, intervalMs: 20, retries: 2 },
      onChange: (s, reason) => {
        changes.push([s, reason]);
        notify();
      },
    });
    try {
      const nextChange = () => new Promise<void>((r) => (notify = r));
      status = 503;
      await nextChange();
      status = 200;
      await nextChange();
      assert.deepEqual(changes, [
        ['unhealthy', 'health check /health returned 503 twice'],
        ['healthy', null],
      ]);
    } finally {
      monitor.stop();
      await new Promise((r) => server.close(r));
    }
  });

  test('a timeout longer than the interval never overlaps probes: the next waits for the previous one to end', async () => {
    let inFlight = 0;
    let most = 0;
    let answered = 0;
    let notify: () => void = () => undefined;
    // Each probe takes 60 ms, three times the 20 ms interval, and stays inside the 200 ms timeout.
    const server = http.createServer((_req, res) => {
      inFlight += 1;
      most = Math.max(most, inFlight);
      setTimeout(() => {
        inFlight -= 1;
        answered += 1;
        res.writeHead(200).end();
        notify();
      }, 60);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as AddressInfo;
    const changes: string[] = [];
    const monitor = monitorHealth({ port, health: { ...HEALTH, intervalMs: 20, timeoutMs: 200, retries: 1 }, onChange: (s) => changes.push(s) });
    try {
      for (let i = 0; i < 100 && answered < 5; i += 1) await new Promise<void>((r) => { notify = r; setTimeout(r, 1_000); });
      assert.ok(answered >= 5, `only ${answered} probes answered`);
      assert.equal(most, 1);
      assert.deepEqual(changes, []);
    } finally {
      monitor.stop();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});
