// The release phase end to end with a real embedded agent, real crun and caddy: a release
// command that prints a marker (with the time inside its sandbox) runs exactly once per
// release and before the new release answers a single request; a failing one leaves the
// old release serving under load with no failed request, and the status says why.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { runCli } from '../../cli/index.ts';
import path from 'node:path';
import { startLoad, type LoadReport } from './load.ts';
import { APP, HOST, eventually, startStack, type Stack } from './stack.ts';

const DEPLOY_LIMIT_MS = 60_000;

function withRelease(stack: Stack, base: string, command: string): void {
  writeFileSync(path.join(stack.appDir, 'forge.yaml'), `${base}\nrelease:\n  command: ${JSON.stringify(command)}\n  timeout: 60s\n`);
}

/** Marker lines the release command of `generation` printed (its own output, shipped to the log store). */
function markers(stack: Stack, generation: number): { at: number; text: string }[] {
  const id = stack.plane.store.services.get(APP)!.id;
  return stack.plane.store.logs.list(APP, { instance: `release-${id}-${generation}` })
    .filter((l) => l.line.startsWith('release-marker '))
    .map((l) => ({ at: Number(l.line.split(' ')[1]), text: l.line }));
}

async function settledOn(stack: Stack, generation: number): Promise<void> {
  await eventually(`generation ${generation} running alone`, DEPLOY_LIMIT_MS, async () => {
    const status = stack.plane.store.status.get(APP);
    const [observed] = await stack.plane.observe([APP]);
    const hash = stack.plane.store.services.get(APP)?.hash;
    return status?.phase === 'running' && status.observedGeneration === generation
      && observed?.instances.length === 1 && observed.instances.every((i) => i.hash === hash && i.health === 'healthy');
  });
}

describe('release command with a real agent', { timeout: 300_000 }, () => {
  let stack: Stack;
  let base: string;
  before(async () => {
    stack = await startStack();
    base = readFileSync(path.join(stack.appDir, 'forge.yaml'), 'utf8');
  });
  after(async () => {
    await stack?.stop();
  });

  test('it runs exactly once per release, before the first instance and before the new release answers', async () => {
    withRelease(stack, base, 'echo "release-marker $(date +%s%3N) $GREETING"');
    const g1 = await stack.apply();
    await settledOn(stack, g1);
    await eventually('the first marker', 10_000, () => markers(stack, g1).length === 1);
    assert.equal(markers(stack, g1)[0]!.text.endsWith(' hello'), true, 'it saw the service env');

    const load = startLoad({ httpAddr: stack.httpAddr, host: HOST, connections: 8 });
    let flippedAt: number;
    let g2: number;
    let report: LoadReport;
    try {
      await eventually('load to get answers', 5_000, () => load.seen('v1') !== undefined);
      stack.editSource('v2');
      g2 = await stack.apply();
      flippedAt = await eventually('v2 answering through caddy', DEPLOY_LIMIT_MS, () => load.seen('v2'));
      await settledOn(stack, g2);
    } finally {
      report = await load.finish();
    }
    assert.deepEqual({ non2xx: report.non2xx, errors: report.errors }, { non2xx: 0, errors: 0 }, JSON.stringify(report.statuses));
    await eventually('the second marker', 10_000, () => markers(stack, g2).length >= 1);
    // Settle a few passes more: nothing runs it a second time.
    await new Promise((resolve) => setTimeout(resolve, 3 * stack.resyncIntervalMs));
    const [marker, ...more] = markers(stack, g2);
    assert.equal(more.length, 0, 'the release command of generation 2 ran more than once');
    assert.equal(markers(stack, g1).length, 1, 'the release command of generation 1 ran again');
    assert.ok(marker!.at < flippedAt, `marker at ${marker!.at} is not before v2 first answered at ${flippedAt}`);
    // And before any instance of v2 was even queued.
    const id = stack.plane.store.services.get(APP)!.id;
    const row = stack.plane.store.releaseCommands.get(id, g2)!;
    assert.equal(row.state, 'succeeded');
    const runs = stack.plane.store.tasks.listFor(APP).filter((t) => t.kind === 'run' && t.generation === g2);
    assert.ok(runs.length > 0 && runs.every((t) => t.createdAt >= row.finishedAt!), JSON.stringify({ row, runs: runs.map((t) => t.createdAt) }));
    assert.equal(stack.plane.store.tasks.listFor(APP).filter((t) => t.kind === 'build' && t.generation === g2).length, 1);
  });

  test('a failing release command: the old release serves under load with 0 failed requests; the status says why', async () => {
    const load = startLoad({ httpAddr: stack.httpAddr, host: HOST, connections: 8 });
    let g3: number;
    let report: LoadReport;
    try {
      await eventually('load to get answers', 5_000, () => load.seen('v2') !== undefined);
      withRelease(stack, base, 'echo "migration broke: secret-free output"; exit 3');
      stack.editSource('v3');
      g3 = await stack.apply();
      const status = await eventually('the service to be failed', DEPLOY_LIMIT_MS, () => {
        const row = stack.plane.store.status.get(APP);
        return row?.phase === 'failed' ? row : false;
      });
      assert.match(status.lastError?.message ?? '', /release command exited with code 3; last output: migration broke/);
      assert.match(status.lastError?.message ?? '', /the previous release keeps serving|keeps serving/);
      await new Promise((resolve) => setTimeout(resolve, 3 * stack.resyncIntervalMs));
    } finally {
      report = await load.finish();
    }
    assert.deepEqual({ non2xx: report.non2xx, errors: report.errors, v3: report.firstSeen.v3 }, { non2xx: 0, errors: 0, v3: undefined });
    assert.equal(await stack.get(), '200 hello from node-hello v2');
    assert.equal(stack.plane.store.status.get(APP)?.phase, 'failed');
    const id = stack.plane.store.services.get(APP)!.id;
    assert.deepEqual({ state: stack.plane.store.releaseCommands.get(id, g3)!.state, exit: stack.plane.store.releaseCommands.get(id, g3)!.exitCode }, { state: 'failed', exit: 3 });
    assert.equal(stack.plane.store.tasks.listFor(APP).filter((t) => t.kind === 'run' && t.generation === g3).length, 0, 'no instance of v3 was ever queued');
    assert.equal(stack.plane.store.releases.get(APP, g3)?.outcome, 'failed');
  });

  test('forge run: the command\'s output and exit code, in the current release\'s env, with nothing left behind; --detach keeps its logs', async () => {
    const token = `forge-run-${process.pid}-${Date.now()}`;
    const deps = { cwd: stack.dir, env: { FORGE_URL: stack.plane.url, FORGE_API_KEY: stack.apiKey } };
    const result = await runCli(['run', APP, '--', 'sh', '-c', `echo "${token} $GREETING"; grep -o "VERSION = 'v[0-9]*'" server.js; exit 7`], deps);
    assert.equal(result.exitCode, 7, result.stderr);
    // The current release is v2 (v3's release command failed): the one-off runs v2's files.
    assert.equal(result.stdout, `${token} hello\nVERSION = 'v2'\n`);
    assert.match(result.stderr, /\[build\] building release/);
    // Nothing of it is left: no process, no cgroup, no work dir.
    const procs = readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
      try { return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(token); } catch { return false; }
    });
    assert.deepEqual(procs, []);
    const cgroups = readdirSync('/sys/fs/cgroup').flatMap((c) => {
      const dir = path.join('/sys/fs/cgroup', c, stack.cgroupRoot);
      return existsSync(dir) ? readdirSync(dir).filter((d) => d.includes('oneoff')).map((d) => `${c}/${d}`) : [];
    });
    assert.deepEqual(cgroups, []);
    assert.deepEqual(leftoverOneOffDirs(stack.dir), []);
    assert.equal(stack.plane.store.status.get(APP)?.phase, 'failed', 'a one-off changes nothing of the service');

    const ok = await runCli(['run', APP, '--', 'true'], deps);
    assert.equal(ok.exitCode, 0, ok.stderr);

    const detached = await runCli(['run', APP, '--detach', '--json', '--', 'sh', '-c', `echo detached-${token}`], deps);
    assert.equal(detached.exitCode, 0, detached.stderr);
    const { runId } = JSON.parse(detached.stdout) as { runId: string };
    await eventually('the detached run\'s output in the log store', 30_000, () =>
      stack.plane.store.logs.list(APP, { instance: runId }).some((l) => l.line === `detached-${token}`));

    const bad = await runCli(['run', APP, '--timeout', 'soon', '--', 'true'], deps);
    assert.equal(bad.exitCode, 2);
    const unknown = await runCli(['run', 'no-such-service', '--', 'true'], deps);
    assert.equal(unknown.exitCode, 1);
    assert.match(unknown.stderr, /E_NOT_FOUND|not found|no service/i);
  });
});

function leftoverOneOffDirs(root: string): string[] {
  const found: string[] = [];
  const walk = (dir: string, depth: number) => {
    if (depth > 4 || !existsSync(dir)) return;
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (!entry.isDirectory()) continue;
      const full = path.join(dir, entry.name);
      if (entry.name === 'one-offs') found.push(...readdirSync(full).map((d) => path.join(full, d)));
      else walk(full, depth + 1);
    }
  };
  walk(root, 0);
  return found;
}
