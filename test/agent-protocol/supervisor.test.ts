// The agent's supervisor on the real kernel: what a run task reports when the
// app is OOM-killed, crashes, or when production mode finds no isolation; and
// how crashes of one slot are counted (the CrashLoopBackOff input).

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { createSupervisor, type Supervisor } from '../../agent/supervisor.ts';
import { canBind, createPortPool } from '../../agent/runner/ports.ts';
import { sweepSandboxes } from '../../agent/sandbox/index.ts';
import type { RunPayload, ShippedLine } from '../../schemas/agent-protocol.ts';
import { makeSpec } from '../helpers/spec.ts';

const needsRoot = process.getuid?.() === 0 ? false : 'needs root for cgroups and namespaces';
const ROOT = `forge-test-supervisor-${process.pid}`;
const scratch = mkdtempSync(path.join(tmpdir(), 'forge-supervisor-'));
const source = path.join(scratch, 'src');
const supervisors: Supervisor[] = [];

after(async () => {
  for (const s of supervisors) await s.stopAll(0);
  if (needsRoot === false) await sweepSandboxes(ROOT);
  rmSync(scratch, { recursive: true, force: true });
});

function supervisor(extra: { mode?: 'production' | 'development'; isolation?: 'off'; ship?: (line: ShippedLine) => void } = {}): Supervisor {
  const s = createSupervisor({
    ...(extra.ship ? { ship: extra.ship } : {}),
    dataDir: path.join(scratch, `agent-${supervisors.length}`), ports: createPortPool({ from: 22_000, to: 22_099 }), host: '127.0.0.1',
    mode: extra.mode ?? 'production', cgroupRoot: ROOT, startTimeoutMs: 10_000, onChange: () => {}, log: () => {},
    ...(extra.isolation ? { isolation: extra.isolation } : {}),
  });
  supervisors.push(s);
  return s;
}

function payload(id: string, command: string, memoryMb = 64, replica = 0): RunPayload {
  const { image: _image, ...spec } = makeSpec({
    name: 'app', sourceDir: source, build: { commands: ['true'] }, run: { command }, resources: { memoryMb, cpus: 0.5 },
    health: { type: 'http', path: '/health', intervalMs: 200, timeoutMs: 500, retries: 2 },
  });
  return { instanceId: id, spec, hash: 'h1', generation: 1, replica };
}

const io = () => ({ secrets: {}, onLine: () => {}, signal: new AbortController().signal });

// The app: /health answers, /exit ends the process with code 7; hog.js allocates until its limit.
mkdirSync(source);
writeFileSync(path.join(source, 'server.js'), `
require('node:http').createServer((req, res) => {
  if (req.url === '/exit') { res.end('bye'); setTimeout(() => process.exit(7), 10); return; }
  res.end('ok');
}).listen(Number(process.env.PORT), '127.0.0.1');
`);
writeFileSync(path.join(source, 'hog.js'), 'const keep = []; for (;;) keep.push(Buffer.alloc(1 << 20, 1));\n');

describe('supervisor', { skip: needsRoot }, () => {
  test('a memory hog is OOM-killed inside its limit and reported as OOM', async () => {
    const s = supervisor();
    const result = await s.run(payload('inst_hog', 'node hog.js'), io());
    assert.equal(result.ok, false);
    assert.equal(result.result?.code, 'E_HEALTH_FAILED');
    const instance = result.result?.instance;
    assert.deepEqual([instance?.state, instance?.oomKilled, instance?.exitCode, instance?.restarts], ['exited', true, 137, 1]);
    // What the app printed last (the shell's "Killed", if any) follows, with where the full log is.
    assert.match(instance?.reason ?? '', /^exited during start-up: OOM-killed at 64 MB limit(; last output: .* \(full log: forge logs app --instance inst_hog\))?$/);
    assert.deepEqual(s.reports().map((r) => [r.id, r.state]), [['inst_hog', 'exited']]);
  });

  test('build and app output is shipped line by line, injected secret values masked; the failure names its last lines', async () => {
    const shipped: ShippedLine[] = [];
    const s = supervisor({ ship: (line) => void shipped.push(line) });
    const progress: string[] = [];
    const p = payload('inst_db', 'echo "using $DB_PASSWORD"; echo "DATABASE_URL is not set" >&2; exit 1');
    p.spec.build = { commands: ['echo "build sees $DB_PASSWORD"'] };
    const result = await s.run(p, { secrets: { DB_PASSWORD: 'hunter2-secret' }, onLine: (l: string) => void progress.push(l), signal: new AbortController().signal });
    assert.equal(result.ok, false);
    const lines = shipped.map((l) => [l.instance, l.build === undefined ? 'app' : 'build', l.stream, l.line]);
    assert.deepEqual(lines, [
      ['inst_db', 'build', 'stdout', 'build sees [secret DB_PASSWORD]'],
      ['inst_db', 'app', 'stdout', 'using [secret DB_PASSWORD]'],
      ['inst_db', 'app', 'stderr', 'DATABASE_URL is not set'],
    ]);
    assert.match(shipped[0]!.build ?? '', /^build_db_\w+$/);
    assert.equal(result.result?.message,
      'exited during start-up: exited with code 1; last output: "using [secret DB_PASSWORD]" | "DATABASE_URL is not set" (full log: forge logs app --instance inst_db)');
    assert.ok(!JSON.stringify([shipped, progress, result]).includes('hunter2-secret'), 'an injected value left the agent');
  });

  test('a failed build names its last lines and forge logs --build', async () => {
    const shipped: ShippedLine[] = [];
    const s = supervisor({ ship: (line) => void shipped.push(line) });
    const p = payload('inst_b1', 'true');
    p.spec.build = { commands: ['echo "Collecting deps"; echo "sh: 1: uvicorn: not found" >&2; exit 127'] };
    const result = await s.run(p, io());
    assert.equal(result.result?.code, 'E_BUILD_FAILED');
    assert.equal(result.result?.message,
      'build step 1/1 failed: exited with code 127; last output: "Collecting deps" | "sh: 1: uvicorn: not found" (full log: forge logs app --build)');
    assert.deepEqual(shipped.map((l) => [l.build !== undefined, l.stream, l.line]), [[true, 'stdout', 'Collecting deps'], [true, 'stderr', 'sh: 1: uvicorn: not found']]);
  });

  test('crashes of one slot are counted in a row; a stop with remove forgets the instance', async () => {
    const s = supervisor();
    const first = await s.run(payload('inst_c1', 'exit 3', 64, 1), io());
    assert.deepEqual([first.result?.instance?.exitCode, first.result?.instance?.restarts, first.result?.instance?.reason],
      [3, 1, 'exited during start-up: exited with code 3']);
    const second = await s.run(payload('inst_c2', 'exit 3', 64, 1), io());
    assert.equal(second.result?.instance?.restarts, 2);
    assert.deepEqual(await s.stop({ instanceId: 'inst_c1', remove: true }, 0), { ok: true, result: { message: 'stopped and removed' } });
    assert.deepEqual(s.reports().map((r) => r.id), ['inst_c2']);
  });

  test('a healthy instance that dies later is reported exited with its code', async () => {
    const s = supervisor();
    const result = await s.run(payload('inst_ok', 'node server.js', 128), io());
    assert.equal(result.ok, true);
    assert.equal(result.result?.instance?.state, 'running');
    const pid = s.pidOf('inst_ok');
    assert.ok(pid !== undefined);
    await fetch(`http://${result.result!.instance!.address}/exit`).catch(() => undefined);
    const deadline = Date.now() + 10_000;
    while (s.reports()[0]?.state !== 'exited' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const [report] = s.reports();
    assert.deepEqual([report?.state, report?.exitCode, report?.reason, report?.restarts], ['exited', 7, 'exited with code 7', 1]);
  });

  test('an app that dies because another process took its port is started again on another port, not failed', async () => {
    // Someone else listens on the pool's first port, and the pool's bind check is made to miss it,
    // as when an outgoing connection takes the port between the check and the app's listen.
    const squatter = createServer();
    await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
    const port = (squatter.address() as AddressInfo).port;
    const lines: string[] = [];
    const clashing = (to: number) => createSupervisor({
      dataDir: path.join(scratch, `agent-clash-${to}`), host: '127.0.0.1', mode: 'production', cgroupRoot: ROOT,
      ports: createPortPool({ from: port, to, isFree: async (p, host) => p === port || canBind(p, host) }),
      startTimeoutMs: 10_000, onChange: () => {}, log: () => {},
    });
    try {
      const retried = clashing(port + 20);
      supervisors.push(retried);
      const ok = await retried.run(payload('inst_clash', 'node server.js'), { ...io(), onLine: (line: string) => void lines.push(line) });
      assert.equal(ok.ok, true, JSON.stringify(ok.result));
      assert.notEqual(ok.result?.instance?.port, port);
      assert.ok(lines.includes(`port ${port} was taken by another process before the app listened; starting again on another port`));
      // With nowhere else to go, it gives up as E_PROVIDER (retried by the reconciler), not E_HEALTH_FAILED.
      const stuck = clashing(port);
      supervisors.push(stuck);
      const failed = await stuck.run(payload('inst_stuck', 'node server.js'), io());
      assert.equal(failed.result?.code, 'E_PROVIDER');
      assert.match(failed.result?.message ?? '', new RegExp(`port ${port} was taken by another process before the app listened \\(3 ports tried\\)`));
    } finally {
      squatter.close(); // not awaited: a health check's connection to it may linger until the client drops it
    }
    // An app that exits on its own with its port free stays E_HEALTH_FAILED: its own fault.
    const own = await supervisor().run(payload('inst_own', 'node -e "process.exit(3)"'), io());
    assert.equal(own.result?.code, 'E_HEALTH_FAILED');
  });

  test('production mode with isolation forced off refuses to run, and says why', async () => {
    const s = supervisor({ isolation: 'off' });
    const result = await s.run(payload('inst_noiso', 'node server.js'), io());
    assert.equal(result.ok, false);
    assert.equal(result.result?.code, 'E_ISOLATION_UNAVAILABLE');
    assert.match(result.result?.instance?.reason ?? '', /^refusing to run build-inst_noiso without isolation in production mode: isolation forced off by FORGE_ISOLATION=off$/);
  });
});

