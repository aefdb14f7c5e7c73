// Chaos: the whole control plane process (HTTP API + loop, test/chaos/api-child.ts)
// SIGKILLed at random points while 40 creates, updates, scales and deletes arrive
// over HTTP, some of them in flight at the moment of the kill. A request that got
// no answer is sent again to the restarted process, as a client would. After a
// last restart: every acknowledged change is there, no spec is lost, nothing was
// ever duplicated in the world, and the API lists exactly the desired services.
// (test/reconciler/crash.test.ts does this for the loop alone, writing the store directly.)

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { generateApiKey } from '../../api/auth.ts';
import { openStore, type Store } from '../../store/index.ts';
import { rng } from '../fuzz/spec-cases.ts';

const CHILD = fileURLToPath(new URL('./api-child.ts', import.meta.url));
const OPS = 40;

interface Running { child: ChildProcess; url: string }
interface Want { image: string; replicas: number }

function start(dir: string, crashRate: number): Promise<Running | null> {
  const child = fork(CHILD, [dir], {
    execArgv: ['--import', 'tsx'], env: { ...process.env, FORGE_CRASH_RATE: String(crashRate) }, stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('control plane did not start in 30 s')), 30_000);
    child.once('message', (m) => { clearTimeout(timer); resolve({ child, url: (m as { url: string }).url }); });
    child.once('exit', () => { clearTimeout(timer); resolve(null); }); // killed itself while starting: start again
  });
}

async function startSurely(dir: string, crashRate: number): Promise<Running> {
  for (let attempt = 0; attempt < 20; attempt += 1) {
    const running = await start(dir, crashRate);
    if (running) return running;
  }
  throw new Error('the control plane died 20 times while starting');
}

function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

const dead = (child: ChildProcess) => child.exitCode !== null || child.signalCode !== null;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Replays the world's create/destroy log: two live instances in one slot at any moment is a duplicate. */
function duplicatesEver(world: Database.Database): string[] {
  const live = new Map<string, Set<string>>();
  const problems: string[] = [];
  for (const e of world.prepare('SELECT kind, key, replica, id FROM log ORDER BY seq').all() as { kind: string; key: string; replica: number; id: string }[]) {
    const slot = `${e.key}/${e.replica}`;
    const ids = live.get(slot) ?? new Set<string>();
    if (e.kind === 'create' && ids.size > 0) problems.push(`duplicate ever: ${slot}`);
    if (e.kind === 'create') ids.add(e.id);
    else ids.delete(e.id);
    live.set(slot, ids);
  }
  return problems;
}

function problems(store: Store, world: Database.Database, desired: Map<string, Want>, gone: Set<string>): string[] {
  const out = duplicatesEver(world);
  const rows = world.prepare('SELECT key, hash FROM instances').all() as { key: string; hash: string }[];
  for (const [name, want] of desired) {
    const row = store.services.get(name);
    if (!row || row.deleting) { out.push(`lost: ${name}`); continue; }
    if (row.spec.image !== want.image || row.spec.replicas !== want.replicas) out.push(`stale: ${name}`);
    const mine = rows.filter((r) => r.key === name);
    if (mine.length !== want.replicas || mine.some((r) => r.hash !== row.hash)) out.push(`${name}: ${mine.length}/${want.replicas} instances at the desired hash`);
    if (store.status.get(name)?.phase !== 'running') out.push(`${name}: ${store.status.get(name)?.phase}`);
  }
  for (const name of gone) {
    if (store.services.get(name)) out.push(`not deleted: ${name}`);
    if (rows.some((r) => r.key === name)) out.push(`instances left: ${name}`);
  }
  return out;
}

test('SIGKILL of the API process at random points during 40 HTTP changes: acknowledged changes kept, converged, no duplicates', { timeout: 240_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'forge-chaos-api-'));
  const random = rng(20_260_101);
  const store = openStore(dir);
  const { key, hash, prefix } = generateApiKey();
  store.apiKeys.create({ name: 'chaos', hash, prefix });
  const desired = new Map<string, Want>();
  const gone = new Set<string>();
  let kills = 0;
  let resent = 0;
  let running = await startSurely(dir, 0.03);
  try {
    for (let op = 0; op < OPS; op += 1) {
      const names = [...desired.keys()];
      const roll = random();
      let request: { method: string; path: string; body?: unknown };
      if (names.length === 0 || roll < 0.45) {
        const name = `svc-${op}`;
        const want = { image: `web:${op}`, replicas: 1 + Math.floor(random() * 3) };
        desired.set(name, want);
        request = { method: 'POST', path: '/api/compute/services', body: { name, ...want, envVars: { TOKEN: `t${op}` } } };
      } else if (roll < 0.8) {
        const name = names[Math.floor(random() * names.length)]!;
        const want = { image: `web:${op}`, replicas: 1 + Math.floor(random() * 3) };
        desired.set(name, want);
        request = { method: 'PATCH', path: `/api/compute/services/${name}`, body: want };
      } else {
        const name = names[Math.floor(random() * names.length)]!;
        desired.delete(name);
        gone.add(name);
        request = { method: 'DELETE', path: `/api/compute/services/${name}` };
      }
      // Kill while the request may be in flight, some of the time.
      const killAfter = random() < 0.35 ? random() * 40 : -1;
      for (let attempt = 0; ; attempt += 1) {
        if (attempt > 0) resent += 1;
        const send = fetch(`${running.url}${request.path}`, {
          method: request.method,
          headers: { 'x-api-key': key, ...(request.body ? { 'content-type': 'application/json' } : {}) },
          ...(request.body ? { body: JSON.stringify(request.body) } : {}),
        }).then((res) => res.status, () => 0);
        if (attempt === 0 && killAfter >= 0) {
          await sleep(killAfter);
          await kill(running.child);
        }
        const status = await send;
        if (dead(running.child)) {
          kills += 1;
          running = await startSurely(dir, 0.03);
        }
        if (status !== 0) {
          // A DELETE repeated after its first try landed finds the service gone (404) or already deleting (202).
          assert.ok(status < 300 || (request.method === 'DELETE' && status === 404), `${request.method} ${request.path} → ${status}`);
          break;
        }
      }
      await sleep(random() * 30);
    }
    await kill(running.child);
    running = await startSurely(dir, 0);

    const world = new Database(join(dir, 'world.db'), { readonly: true });
    let left: string[] = ['not checked yet'];
    try {
      for (let i = 0; i < 600 && left.length > 0; i += 1) {
        left = problems(store, world, desired, gone);
        if (left.length > 0) await sleep(100);
      }
    } finally {
      world.close();
    }
    assert.deepEqual(left, [], `after ${kills} kills`);
    const listed = await fetch(`${running.url}/api/compute/services`, { headers: { 'x-api-key': key } }).then((r) => r.json()) as { name: string }[];
    assert.deepEqual(listed.map((s) => s.name).sort(), [...desired.keys()].sort());
    assert.ok(kills >= 8, `the control plane was killed ${kills} times`);
    t.diagnostic(`chaos api: ${OPS} changes over HTTP, ${kills} SIGKILLs of the control plane, ${resent} requests re-sent; converged, 0 duplicates, 0 lost`);
  } finally {
    await kill(running.child);
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
