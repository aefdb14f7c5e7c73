// Chaos: the control plane (test/chaos/plane-child.ts: API, loop, agent provider)
// SIGKILLed at 100 random points while 50 services of real node apps are created,
// updated, scaled and deleted through `POST /api/v1/apply` (the whole desired set
// each time, pruned, as `forge apply` sends it). The worker agent is its own
// process (test/chaos/agent-child.ts) running the apps in cgroups and namespaces;
// it outlives every kill. An apply that got no answer is sent again to the
// restarted plane. After the last restart:
// - every service converges: the spec of the last apply, its replicas running
//   and healthy at the desired hash, deleted ones gone;
// - the agent never ran two live instances of one replica at one release;
// - nothing is orphaned: every sandbox cgroup and every process under the agent's
//   data dir belongs to an instance that should run;
// - deleting everything leaves no cgroup and no process, and the agent's stop
//   removes its cgroup root.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateApiKey } from '../../api/auth.ts';
import { sweepSandboxes } from '../../agent/sandbox/index.ts';
import type { InstanceReport } from '../../schemas/agent-protocol.ts';
import { changedFields } from '../../reconciler/spec-fields.ts';
import type { ServiceSpec } from '../../specs/types.ts';
import { openStore, type Store } from '../../store/index.ts';
import type { ReleaseRow } from '../../store/types.ts';
import { freePort } from '../e2e/stack.ts';
import { rng } from '../fuzz/spec-cases.ts';
import { ask, dead, forkReady, stop } from './children.ts';
import { processesUnder, rootExists, sandboxCgroups } from './host-scan.ts';

const PLANE = fileURLToPath(new URL('./plane-child.ts', import.meta.url));
const AGENT = fileURLToPath(new URL('./agent-child.ts', import.meta.url));
const EXAMPLE = fileURLToPath(new URL('../../examples/node-hello/', import.meta.url));
const SERVICES = 50;
const KILLS = 100;
const needsRoot = process.getuid?.() === 0 ? false : 'needs root for cgroups and namespaces';

interface Want { replicas: number; rev: number }

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** 400 ports for the agent, below the kernel's ephemeral range (32768+). */
const agentPorts = (r: number) => { const from = 24_000 + Math.floor(r * 20) * 400; return `${from}-${from + 399}`; };

function specOf(appDir: string, name: string, want: Want): Record<string, unknown> {
  return {
    name, provider: 'agent', source: appDir, build: { commands: ['node --check server.js'] }, run: { command: 'node server.js' },
    port: 8080, memory: '256M', resources: { cpu: 0.25 }, replicas: want.replicas, env: { REV: String(want.rev) },
    health: { path: '/health', interval: '1s', timeout: '900ms', retries: 3 },
  };
}

function equivalent(release: ReleaseRow | null, hash: string, spec: ServiceSpec): boolean {
  return release !== null && release.hash === hash && changedFields(release.spec, spec).length === 0;
}

/** What still differs from the desired world, as readable lines (empty when converged). */
function differences(store: Store, desired: Map<string, Want>, gone: Set<string>, instances: InstanceReport[]): string[] {
  const out: string[] = [];
  for (const [name, want] of desired) {
    const row = store.services.get(name);
    if (!row || row.deleting) { out.push(`lost: ${name}`); continue; }
    if (row.spec.replicas !== want.replicas || row.spec.env.REV !== String(want.rev)) out.push(`stale spec: ${name}`);
    const live = instances.filter((i) => i.service === name && i.state === 'running' && i.health === 'healthy');
    // Current: the desired hash, or an older release whose spec differs only in replicas
    // (a scale keeps its instances and their old label: no restart for a count).
    const current = live.filter((i) => i.hash === row.hash || equivalent(store.releases.get(name, i.generation), i.hash, row.spec));
    if (current.length !== want.replicas || live.length !== current.length) out.push(`${name}: ${current.length}/${want.replicas} healthy running the desired spec, ${live.length} live`);
    const phase = store.status.get(name)?.phase;
    if (phase !== 'running') out.push(`${name}: ${phase}`);
  }
  for (const name of gone) {
    if (store.services.get(name)) out.push(`not deleted: ${name}`);
    if (instances.some((i) => i.service === name && i.state !== 'exited' && i.state !== 'stopped')) out.push(`instances left: ${name}`);
  }
  return out;
}

/** For a failure message: what the store and the agent say about the services still off. */
function explain(store: Store, left: string[], instances: InstanceReport[]): string {
  const names = [...new Set(left.map((line) => /(svc-\d+)/.exec(line)?.[1]).filter((n): n is string => n !== undefined))].slice(0, 3);
  return names.map((name) => JSON.stringify({
    name, hash: store.services.get(name)?.hash.slice(0, 12), status: store.status.get(name),
    instances: instances.filter((i) => i.service === name).map((i) => `${i.id} r${i.replica} ${i.hash.slice(0, 12)} ${i.state}/${i.health}`),
    tasks: store.tasks.listFor(name, 8).map((task) => `${task.kind} r${task.replica} g${task.generation} ${task.state} ${JSON.stringify(task.result)}`),
  }, null, 1)).join('\n');
}

/** Sandbox cgroups and processes that belong to no live instance. */
async function orphans(root: string, agentDir: string, instances: InstanceReport[]): Promise<string[]> {
  const live = new Set(instances.filter((i) => i.state === 'running' || i.state === 'starting').map((i) => i.id));
  const out: string[] = [];
  const cgroups = await sandboxCgroups(root);
  for (const [name, pids] of cgroups) if (!live.has(name)) out.push(`cgroup ${name} (pids ${pids.join(',') || 'none'}) belongs to no live instance`);
  for (const p of await processesUnder(agentDir, root)) {
    const owner = [...cgroups].find(([, pids]) => pids.includes(p.pid))?.[0];
    if (owner === undefined || !live.has(owner)) out.push(`process ${p.pid} (${p.cmdline}) in ${owner ?? 'no sandbox cgroup'}`);
  }
  for (const id of live) if (!cgroups.get(id)?.length) out.push(`live instance ${id} has no process in its cgroup`);
  return out;
}

test(`SIGKILL of the control plane at ${KILLS} random points while ${SERVICES} services change: converged, no duplicates, nothing lost or orphaned`, { skip: needsRoot, timeout: 900_000 }, async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'forge-chaos-plane-'));
  const appDir = path.join(dir, 'app');
  cpSync(EXAMPLE, appDir, { recursive: true });
  const dataDir = path.join(dir, 'data');
  const agentDir = path.join(dir, 'agent');
  const root = `forge-chaos-${process.pid}-${randomBytes(3).toString('hex')}`;
  const port = await freePort();
  const agentToken = `fagr_${randomBytes(18).toString('base64url')}`;
  const childEnv = { CHAOS_AGENT_TOKEN: agentToken };
  const random = rng(20_261_122);

  const store = openStore(dataDir);
  const { key, hash, prefix } = generateApiKey();
  store.apiKeys.create({ name: 'chaos', hash, prefix });
  const desired = new Map<string, Want>();
  const gone = new Set<string>();
  let created = 0;
  let kills = 0;
  let resent = 0;
  let inFlightKills = 0;

  const startPlane = async () => (await forkReady<{ url: string }>(PLANE, [dataDir, String(port)], childEnv)).child;
  let plane = await startPlane();
  const url = `http://127.0.0.1:${port}`;
  const agent = await forkReady<{ id: string }>(AGENT, [url, agentDir, root, agentPorts(random())], childEnv).then((r) => r.child, async (error: unknown) => {
    await stop(plane); // its IPC channel would keep this test process alive
    store.close();
    rmSync(dir, { recursive: true, force: true });
    throw error;
  });
  const started = Date.now();

  const apply = () => fetch(`${url}/api/v1/apply`, {
    method: 'POST', headers: { 'x-api-key': key, 'content-type': 'application/json' },
    body: JSON.stringify({ source: 'chaos', prune: true, specs: [...desired].map(([name, want]) => specOf(appDir, name, want)) }),
  }).then(async (res) => ({ status: res.status, text: await res.text() }), () => ({ status: 0, text: '' }));

  /** One random change to the desired set: a create (until 50), an update, a scale or a delete. */
  const change = () => {
    const names = [...desired.keys()];
    const roll = random();
    if (created < SERVICES && (names.length < 3 || roll < 0.45)) {
      const name = `svc-${String(created).padStart(2, '0')}`;
      created += 1;
      desired.set(name, { replicas: 1 + Math.floor(random() * 2), rev: 1 });
      return;
    }
    const name = names[Math.floor(random() * names.length)]!;
    const want = desired.get(name)!;
    if (roll < 0.7) desired.set(name, { ...want, rev: want.rev + 1 });
    else if (roll < 0.9 || gone.size >= 15) desired.set(name, { ...want, replicas: want.replicas === 3 ? 1 : want.replicas + 1 });
    else {
      desired.delete(name);
      gone.add(name);
    }
  };

  try {
    for (let point = 0; point < KILLS; point += 1) {
      const changes = created < SERVICES ? 1 + Math.floor(random() * 2) : 1;
      for (let i = 0; i < changes; i += 1) change();
      // Kill while the apply is in flight a third of the time; otherwise somewhere in the reconcile after it.
      const inFlight = random() < 0.33;
      const killAfter = inFlight ? random() * 30 : 50 + random() * 1_500;
      let status = 0;
      let text = '';
      for (let attempt = 0; status === 0; attempt += 1) {
        if (attempt > 0) resent += 1;
        assert.ok(attempt < 20, 'the apply got no answer 20 times');
        const sent = apply();
        if (attempt === 0) {
          await sleep(killAfter);
          await stop(plane);
          kills += 1;
          if (inFlight) inFlightKills += 1;
        }
        ({ status, text } = await sent);
        if (dead(plane)) plane = await startPlane();
      }
      assert.equal(status, 200, `apply answered ${status}: ${text}`);
    }
    const changedFor = Date.now() - started;

    // Converge, then look for what should not be there.
    let left: string[] = ['not checked yet'];
    let instances: InstanceReport[] = [];
    const convergeStart = Date.now();
    while (left.length > 0 && Date.now() - convergeStart < 60_000) {
      instances = await ask<InstanceReport[]>(agent, 'instances');
      left = differences(store, desired, gone, instances);
      if (left.length > 0) await sleep(250);
    }
    assert.deepEqual(left, [], `not converged ${Math.round((Date.now() - convergeStart) / 1000)} s after the last of ${kills} kills\n${explain(store, left, instances)}`);
    const convergedIn = Date.now() - convergeStart;
    let stray: string[] = ['not checked yet'];
    for (let i = 0; i < 40 && stray.length > 0; i += 1) {
      // Stops of replaced instances may still be finishing: give them a few seconds.
      instances = await ask<InstanceReport[]>(agent, 'instances');
      stray = await orphans(root, agentDir, instances);
      if (stray.length > 0) await sleep(250);
    }
    assert.deepEqual(stray, [], 'orphans after convergence');
    const duplicates = await ask<string[]>(agent, 'duplicates');
    assert.deepEqual(duplicates, [], 'two live instances of one replica at one release');
    const replicas = [...desired.values()].reduce((sum, w) => sum + w.replicas, 0);
    const apps = (await processesUnder(agentDir, root)).filter((p) => p.cmdline === 'node server.js');
    assert.equal(apps.length, replicas, 'one node process per desired replica');

    // Everything deleted: no cgroup, no process left; the agent's stop removes its root.
    const deletedUnderChaos = gone.size;
    for (const name of desired.keys()) gone.add(name);
    desired.clear();
    for (let attempt = 0; ; attempt += 1) {
      const { status } = await apply();
      if (status === 200) break;
      assert.ok(attempt < 10, `the final apply answered ${status}`);
      await sleep(500);
    }
    let remaining = -1;
    for (let i = 0; i < 240 && remaining !== 0; i += 1) {
      const cgroups = await sandboxCgroups(root);
      remaining = cgroups.size + (await processesUnder(agentDir, root)).length;
      if (remaining !== 0) await sleep(250);
    }
    assert.equal(remaining, 0, 'cgroups and processes left after deleting every service');
    await stop(agent, 'SIGTERM');
    assert.equal(agent.exitCode, 0);
    assert.equal(await rootExists(root), false, 'the agent removes its cgroup root when it stops');

    t.diagnostic(`chaos plane: ${SERVICES} services (${created} created, ${deletedUnderChaos} of them deleted), ${kills} SIGKILLs of the control plane ` +
      `(${inFlightKills} with an apply in flight), ${resent} applies re-sent, changes over ${Math.round(changedFor / 1000)} s; ` +
      `converged ${(convergedIn / 1000).toFixed(1)} s after the last kill with ${replicas} replicas; 0 duplicates, 0 lost, 0 orphaned processes or cgroups`);
  } finally {
    await stop(plane);
    await stop(agent);
    await sweepSandboxes(root).catch(() => undefined);
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
