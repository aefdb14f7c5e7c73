// Chaos: the control plane (test/chaos/plane-child.ts) SIGKILLed at random points while a
// cron job ticks every second (a test-only seconds resolution, FORGE_TEST_SECOND_SCHEDULES=1)
// across 200 scheduled ticks. The agent is its own process and outlives every kill. The job
// appends its own scheduled tick (FORGE_JOB_SCHEDULED_AT) to a file: that file, not Forge's
// rows, is what says how often each tick ran. After the last tick:
// - no tick appears twice in the file (0 duplicates);
// - every tick of the window has exactly one row; a tick ran (is in the file) iff its row says
//   it started (succeeded, failed or lost), and a skipped tick did not run;
// - skipped ticks are only ticks that passed while the control plane was down (missed: run-once
//   runs the newest of them), never one whose predecessor's run is going (concurrency: allow).
// The agent runs jobs without its sandbox here (CHAOS_AGENT_ISOLATION=off): the subject is the
// control plane's no-twice rule, and a real sandbox rightly forbids writing a host file.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateApiKey } from '../../api/auth.ts';
import { openStore } from '../../store/index.ts';
import { freePort } from '../e2e/stack.ts';
import { rng } from '../fuzz/spec-cases.ts';
import { forkReady, stop } from './children.ts';

const PLANE = fileURLToPath(new URL('./plane-child.ts', import.meta.url));
const AGENT = fileURLToPath(new URL('./agent-child.ts', import.meta.url));
const EXAMPLE = fileURLToPath(new URL('../../examples/node-hello/', import.meta.url));
const TICKS = Number(process.env.CHAOS_CRON_TICKS ?? 200);
const needsRoot = process.getuid?.() === 0 ? false : 'needs root (the agent makes cgroups)';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test(`SIGKILL of the control plane at random points across ${TICKS} ticks of an every-second job: no tick runs twice`, { skip: needsRoot, timeout: 420_000 }, async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'forge-chaos-cron-'));
  const appDir = path.join(dir, 'app');
  cpSync(EXAMPLE, appDir, { recursive: true });
  const ticksFile = path.join(dir, 'ticks.txt');
  const dataDir = path.join(dir, 'data');
  const root = `forge-chaos-cron-${process.pid}-${randomBytes(3).toString('hex')}`;
  const port = await freePort();
  const agentToken = `fagr_${randomBytes(18).toString('base64url')}`;
  const childEnv = { CHAOS_AGENT_TOKEN: agentToken, FORGE_TEST_SECOND_SCHEDULES: '1', CHAOS_AGENT_ISOLATION: 'off' };
  const random = rng(20_261_203);
  const store = openStore(dataDir);
  const { key, hash, prefix } = generateApiKey();
  store.apiKeys.create({ name: 'chaos', hash, prefix });

  const startPlane = async () => (await forkReady<{ url: string }>(PLANE, [dataDir, String(port)], childEnv)).child;
  let plane = await startPlane();
  const url = `http://127.0.0.1:${port}`;
  const from = 24_000 + Math.floor(random() * 20) * 400;
  const agent = await forkReady<{ id: string }>(AGENT, [url, path.join(dir, 'agent'), root, `${from}-${from + 399}`], childEnv).then((r) => r.child, async (error: unknown) => {
    await stop(plane);
    store.close();
    rmSync(dir, { recursive: true, force: true });
    throw error;
  });
  let kills = 0;
  try {
    const spec = {
      name: 'cron', provider: 'agent', source: appDir, build: { commands: [] }, run: { command: 'node server.js' }, replicas: 0,
      env: { TICKS_FILE: ticksFile },
      jobs: { tick: { schedule: '* * * * * *', command: 'echo "$FORGE_JOB_SCHEDULED_AT" >> "$TICKS_FILE"', timeout: '20s', concurrency: 'allow', missed: 'run-once', history: 1000 } },
    };
    const res = await fetch(`${url}/api/v1/apply`, {
      method: 'POST', headers: { 'x-api-key': key, 'content-type': 'application/json' },
      body: JSON.stringify({ source: 'chaos', specs: [spec] }),
    });
    assert.equal(res.status, 200, await res.text());

    const firstTick = async (): Promise<number> => {
      for (let i = 0; i < 200; i += 1) {
        const cursor = store.jobs.cursor('cron', 'tick');
        if (cursor !== null) return Math.floor(cursor / 1000) * 1000 + 1000;
        await sleep(100);
      }
      throw new Error('the scheduler never saw the job');
    };
    const first = await firstTick();
    const last = first + (TICKS - 1) * 1000;
    // Kill at random points until the last tick has passed: up to ~12 s apart, sometimes right after a restart.
    while (Date.now() < last) {
      await sleep(Math.min(Math.max(0, last - Date.now()), 300 + random() * 12_000));
      if (Date.now() >= last) break;
      await stop(plane, 'SIGKILL');
      kills += 1;
      plane = await startPlane();
    }
    // Let the runs of the last ticks end and be settled.
    const settled = () => store.jobs.list('cron', 'tick', 1000).filter((r) => r.scheduledMs >= first && r.scheduledMs <= last);
    for (let i = 0; i < 300; i += 1) {
      const rows = settled();
      if (rows.length > 0 && rows.every((r) => r.state !== 'pending' && r.state !== 'running') && rows.some((r) => r.scheduledMs === last)) break;
      await sleep(100);
    }

    const ran = existsSync(ticksFile) ? readFileSync(ticksFile, 'utf8').split('\n').filter(Boolean).map((l) => Date.parse(l)) : [];
    const counts = new Map<number, number>();
    for (const tick of ran) counts.set(tick, (counts.get(tick) ?? 0) + 1);
    const twice = [...counts].filter(([, n]) => n > 1).map(([tick, n]) => `${new Date(tick).toISOString()} ×${n}`);
    assert.deepEqual(twice, [], 'ticks the job itself saw more than once');

    const rows = store.jobs.list('cron', 'tick', 1000).filter((r) => r.scheduledMs >= first && r.scheduledMs <= last);
    const byTick = new Map(rows.map((r) => [r.scheduledMs, r]));
    assert.equal(rows.length, byTick.size, 'one row per tick');
    const missing: string[] = [];
    const wrong: string[] = [];
    for (let tick = first; tick <= last; tick += 1000) {
      const row = byTick.get(tick);
      if (!row) { missing.push(new Date(tick).toISOString()); continue; }
      const inFile = counts.has(tick);
      if (row.state === 'skipped') {
        if (inFile) wrong.push(`${row.id}: skipped but ran`);
        if (!/missed/.test(row.reason ?? '')) wrong.push(`${row.id}: skipped for ${row.reason} (concurrency: allow never skips)`);
      } else if (row.state === 'succeeded') {
        if (!inFile) wrong.push(`${row.id}: succeeded but the job never saw tick ${new Date(tick).toISOString()}`);
      } else if (row.state !== 'lost' && row.state !== 'failed') {
        wrong.push(`${row.id}: ${row.state} (${row.reason})`);
      }
    }
    assert.deepEqual(missing, [], `ticks with no row; first ${new Date(first).toISOString()}, rows: ${rows.map((r) => `${new Date(r.scheduledMs).toISOString().slice(17, 23)} ${r.state}`).reverse().join(', ')}`);
    assert.deepEqual(wrong, []);
    for (const tick of counts.keys()) assert.ok(byTick.has(tick) || tick < first || tick > last, `the job ran tick ${new Date(tick).toISOString()} that has no row`);
    const states = new Map<string, number>();
    for (const r of rows) states.set(r.state, (states.get(r.state) ?? 0) + 1);
    // (Every tick has a row and only skipped/started states pass the loop above: so under
    // missed: run-once each group of skipped ticks is followed by the tick that started.)
    assert.ok((states.get('succeeded') ?? 0) > 0, 'no run succeeded');
    t.diagnostic(`chaos cron: ${TICKS} ticks, ${kills} SIGKILLs of the control plane; rows ${JSON.stringify(Object.fromEntries(states))}; ` +
      `${ran.length} runs seen by the job, 0 twice`);
  } finally {
    await stop(plane);
    await stop(agent, 'SIGTERM');
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
