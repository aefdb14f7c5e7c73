// Crash test: a child process runs the loop and is SIGKILLed at random points
// (by the parent at random times, and by itself right after remote writes) while
// 50 creates, updates, scales and deletes are applied. After a final restart
// everything converges with zero duplicate objects and zero lost specs.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { openStore } from '../../store/index.ts';
import { applySet } from '../../api/service-apply-set.ts';
import { specHash } from '../../specs/hash.ts';
import type { ServiceSpec } from '../../specs/types.ts';
import { makeSpec } from '../helpers/spec.ts';

const CHILD = fileURLToPath(new URL('./crash-child.ts', import.meta.url));

function startChild(dir: string, crashRate: number): Promise<ChildProcess> {
  const child = fork(CHILD, [dir], {
    execArgv: ['--import', 'tsx'], env: { ...process.env, FORGE_CRASH_RATE: String(crashRate) }, stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('child did not start in 20 s')), 20_000);
    child.once('message', () => { clearTimeout(timer); resolve(child); });
    child.once('exit', () => { clearTimeout(timer); resolve(child); });
  });
}

function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

function seeded(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state / 2147483648;
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('SIGKILL at random points during 50 changes: converges with no duplicates and no lost specs', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'forge-crash-'));
  const random = seeded(42);
  const store = openStore(dir);
  let child: ChildProcess | undefined;
  const desired = new Map<string, ServiceSpec>();
  let kills = 0;
  try {
    child = await startChild(dir, 0.05);
    for (let op = 0; op < 50; op += 1) {
      const roll = random();
      const names = [...desired.keys()];
      if (names.length === 0 || roll < 0.45) {
        const name = `svc-${op}`;
        desired.set(name, makeSpec({ name, replicas: 1 + Math.floor(random() * 3) }));
      } else if (roll < 0.8) {
        const name = names[Math.floor(random() * names.length)]!;
        const before = desired.get(name)!;
        desired.set(name, makeSpec({ name, image: `web:${op}`, replicas: 1 + Math.floor(random() * 3), env: { REV: String(op) }, region: before.region }));
      } else {
        desired.delete(names[Math.floor(random() * names.length)]!);
      }
      applySet(store, 'file:crash', [...desired.values()].map((spec) => ({ spec, hash: specHash(spec) })), { prune: true });
      await sleep(10 + random() * 60);
      const dead = child.exitCode !== null || child.signalCode !== null;
      if (dead || random() < 0.3) {
        if (!dead) await kill(child);
        kills += 1;
        child = await startChild(dir, 0.05);
      }
    }
    await kill(child);
    child = await startChild(dir, 0);

    const world = new Database(join(dir, 'world.db'), { readonly: true });
    const deadline = Date.now() + 60_000;
    let problems: string[] = ['not checked yet'];
    while (Date.now() < deadline) {
      problems = check(store, world, desired);
      if (problems.length === 0) break;
      await sleep(100);
    }
    world.close();
    assert.deepEqual(problems, [], `after ${kills} kills`);
    assert.ok(kills >= 10, `the child was killed ${kills} times`);
  } finally {
    if (child) await kill(child);
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

interface WorldRow { key: string; replica: number; hash: string }

/** Replays the world's create/destroy log: a slot with two live instances at any moment is a duplicate. */
function duplicatesEver(world: Database.Database): string[] {
  const live = new Map<string, Set<string>>();
  const problems: string[] = [];
  for (const e of world.prepare('SELECT kind, key, replica, id FROM log ORDER BY seq').all() as Array<{ kind: string; key: string; replica: number; id: string }>) {
    const slot = `${e.key}/${e.replica}`;
    const ids = live.get(slot) ?? new Set<string>();
    if (e.kind === 'create') {
      if (ids.size > 0) problems.push(`duplicate ever: ${slot} got ${e.id} while ${[...ids].join(',')} was live`);
      ids.add(e.id);
    } else ids.delete(e.id);
    live.set(slot, ids);
  }
  return problems;
}

function check(store: ReturnType<typeof openStore>, world: Database.Database, desired: Map<string, ServiceSpec>): string[] {
  const problems: string[] = [];
  const rows = world.prepare('SELECT key, replica, hash FROM instances ORDER BY key, replica').all() as WorldRow[];
  const slots = new Map<string, number>();
  for (const row of rows) {
    const slot = `${row.key}/${row.replica}`;
    slots.set(slot, (slots.get(slot) ?? 0) + 1);
  }
  for (const [slot, count] of slots) if (count > 1) problems.push(`duplicate: ${slot} has ${count} instances`);
  problems.push(...duplicatesEver(world));
  for (const [name, spec] of desired) {
    const row = store.services.get(name);
    if (!row || row.deleting) { problems.push(`lost spec: ${name}`); continue; }
    if (row.hash !== specHash(spec)) problems.push(`stale spec: ${name}`);
    const mine = rows.filter((r) => r.key === name);
    if (mine.length !== spec.replicas || mine.some((r) => r.hash !== row.hash)) {
      problems.push(`${name}: ${mine.length}/${spec.replicas} instances at the desired hash`);
    }
    if (store.status.get(name)?.phase !== 'running') problems.push(`${name}: phase ${store.status.get(name)?.phase}`);
  }
  for (const key of new Set(rows.map((r) => r.key))) if (!desired.has(key)) problems.push(`orphan left: ${key}`);
  for (const row of store.services.list()) if (!desired.has(row.name)) problems.push(`deleted row left: ${row.name}`);
  return problems;
}
