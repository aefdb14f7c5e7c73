// Chaos: a worker agent's machine dies. Two agents (test/chaos/agent-child.ts, each
// its own process) run 6 node services for a control plane (test/chaos/plane-child.ts)
// with the production heartbeat interval of 5 s (offline after 15 s of silence).
// The agent process holding some of them is SIGKILLed together with every process
// below it, as a power loss would. Within 60 s every service runs healthy on the
// other agent and answers, without a duplicate; when the dead agent comes back it
// clears the sandbox cgroups its previous life left, and takes nothing back.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateApiKey } from '../../api/auth.ts';
import { sweepSandboxes } from '../../agent/sandbox/index.ts';
import type { InstanceReport } from '../../schemas/agent-protocol.ts';
import { openStore } from '../../store/index.ts';
import { freePort } from '../e2e/stack.ts';
import { ask, dead, forkReady, stop } from './children.ts';
import { processTree, sandboxCgroups } from './host-scan.ts';

const PLANE = fileURLToPath(new URL('./plane-child.ts', import.meta.url));
const AGENT = fileURLToPath(new URL('./agent-child.ts', import.meta.url));
const EXAMPLE = fileURLToPath(new URL('../../examples/node-hello/', import.meta.url));
const HEARTBEAT_MS = 5_000;
const FAILOVER_LIMIT_MS = 60_000;
const needsRoot = process.getuid?.() === 0 ? false : 'needs root for cgroups and namespaces';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const healthy = (list: InstanceReport[]) => list.filter((i) => i.state === 'running' && i.health === 'healthy');

test('SIGKILL of an agent and its children: its services run on the other agent within 60 s; nothing orphaned when it returns', { skip: needsRoot, timeout: 240_000 }, async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'forge-chaos-agent-'));
  const appDir = path.join(dir, 'app');
  cpSync(EXAMPLE, appDir, { recursive: true });
  const dataDir = path.join(dir, 'data');
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const suffix = `${process.pid}-${randomBytes(3).toString('hex')}`;
  const roots = { a: `forge-chaos-a-${suffix}`, b: `forge-chaos-b-${suffix}` };
  const env = { CHAOS_AGENT_TOKEN: `fagr_${randomBytes(18).toString('base64url')}`, CHAOS_HEARTBEAT_MS: String(HEARTBEAT_MS) };
  const portBase = 24_000 + Math.floor(Math.random() * 18) * 400; // two blocks of 200, below the ephemeral ports (32768+)
  const store = openStore(dataDir);
  const { key, hash, prefix } = generateApiKey();
  store.apiKeys.create({ name: 'chaos', hash, prefix });
  const names = Array.from({ length: 6 }, (_, i) => `web-${i}`);

  let plane: ChildProcess | undefined;
  let a: ChildProcess | undefined;
  let b: ChildProcess | undefined;
  const startAgent = async (name: 'a' | 'b', portFrom: number) =>
    (await forkReady<{ id: string }>(AGENT, [url, path.join(dir, `agent-${name}`), roots[name], `${portFrom}-${portFrom + 199}`], { ...env, CHAOS_AGENT_NAME: name })).child;
  try {
    plane = (await forkReady<{ url: string }>(PLANE, [dataDir, String(port)], env)).child;
    a = await startAgent('a', portBase);
    b = await startAgent('b', portBase + 200);
    const res = await fetch(`${url}/api/v1/apply`, {
      method: 'POST', headers: { 'x-api-key': key, 'content-type': 'application/json' },
      body: JSON.stringify({
        source: 'chaos', specs: names.map((name) => ({
          name, provider: 'agent', source: appDir, build: { commands: [] }, run: { command: 'node server.js' },
          port: 8080, memory: '256M', resources: { cpu: 0.25 }, health: { path: '/health', interval: '1s', timeout: '900ms', retries: 3 },
        })),
      }),
    });
    assert.equal(res.status, 200, await res.text());

    // Both agents get some: placement spreads by headroom.
    let onA: InstanceReport[] = [];
    let onB: InstanceReport[] = [];
    for (let i = 0; i < 240; i += 1) {
      onA = healthy(await ask<InstanceReport[]>(a, 'instances'));
      onB = healthy(await ask<InstanceReport[]>(b, 'instances'));
      if (onA.length + onB.length === names.length && names.every((n) => store.status.get(n)?.phase === 'running')) break;
      await sleep(250);
    }
    assert.equal(onA.length + onB.length, names.length, 'every service running before the kill');
    assert.ok(onA.length > 0 && onB.length > 0, `spread over both agents (a: ${onA.length}, b: ${onB.length})`);
    const moved = onA.map((i) => i.service).sort();

    // The machine dies: the agent and every process below it, at once.
    const tree = await processTree(a.pid!);
    assert.ok(tree.length > 1 + moved.length, 'the agent has its apps (and their sandbox wrappers) below it');
    const killedAt = Date.now();
    for (const pid of tree) {
      try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
    }
    await stop(a);

    let failoverMs = -1;
    while (Date.now() - killedAt < FAILOVER_LIMIT_MS) {
      onB = healthy(await ask<InstanceReport[]>(b, 'instances'));
      if (names.every((n) => onB.some((i) => i.service === n) && store.status.get(n)?.phase === 'running')) {
        failoverMs = Date.now() - killedAt;
        break;
      }
      await sleep(200);
    }
    assert.ok(failoverMs >= 0, `within ${FAILOVER_LIMIT_MS} ms only ${onB.map((i) => i.service).sort().join(', ')} ran on b`);
    for (const instance of onB) {
      const answer = await fetch(`http://${instance.address}/`).then(async (r) => `${r.status} ${(await r.text()).trim()}`);
      assert.equal(answer, '200 hello from node-hello v1', `${instance.service} at ${instance.address}`);
    }
    assert.equal(onB.length, names.length, 'one instance per service on b');
    assert.deepEqual(await ask<string[]>(b, 'duplicates'), []);

    // The dead agent's sandbox cgroups are still on the host; when it comes back it clears them.
    const leftBehind = (await sandboxCgroups(roots.a)).size;
    assert.ok(leftBehind >= moved.length, `the killed agent left its cgroups (${leftBehind})`);
    a = await startAgent('a', portBase);
    assert.equal((await sandboxCgroups(roots.a)).size, 0, 'the restarted agent swept its old sandboxes');
    await sleep(2 * HEARTBEAT_MS); // two of its heartbeats and several resyncs
    const back = healthy(await ask<InstanceReport[]>(a, 'instances'));
    assert.deepEqual(back.map((i) => i.service), [], 'nothing moves back to the returned agent');
    assert.equal(healthy(await ask<InstanceReport[]>(b, 'instances')).length, names.length);

    t.diagnostic(`chaos agent: SIGKILL of an agent and its ${tree.length - 1} descendants (${moved.length} of ${names.length} services on it): ` +
      `all running healthy on the other agent after ${(failoverMs / 1000).toFixed(1)} s (limit 60 s, heartbeat ${HEARTBEAT_MS / 1000} s, offline after 3 missed); ` +
      `${leftBehind} cgroups left by the dead agent, 0 after it restarted; 0 duplicates`);
  } finally {
    await stop(b, 'SIGTERM');
    await stop(a, 'SIGTERM');
    await stop(plane);
    for (const root of Object.values(roots)) await sweepSandboxes(root).catch(() => undefined);
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
