// Two real `forge server` replicas on one throwaway PostgreSQL cluster; a worker agent
// and the CLI are given both URLs, first the one that is SIGKILLed. The agent's
// heartbeats keep landing (through the other replica) and the CLI's commands succeed,
// with nothing but the URL list to go on: no load balancer, no restart.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startAgent, type AgentHandle } from '../../agent/index.ts';
import { generateApiKey } from '../../api/auth.ts';
import { runCli } from '../../cli/index.ts';
import { openStore, type Store } from '../../store/index.ts';
import { freePort } from '../e2e/stack.ts';
import { type PgCluster, postgresSkipReason, startPgCluster } from '../store/pg-cluster.ts';

const FORGE = fileURLToPath(new URL('../../bin/forge', import.meta.url));
const TOKEN = 'replica-failover-registration';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const dead = (child: ChildProcess) => child.exitCode !== null || child.signalCode !== null;
const skip = postgresSkipReason() ?? (process.getuid?.() === 0 ? undefined : 'the agent sweeps its cgroup root at start: needs root');

async function until(check: () => boolean | Promise<boolean>, tries = 300): Promise<boolean> {
  for (let i = 0; i < tries; i++) {
    if (await check()) return true;
    await sleep(100);
  }
  return check();
}

test('SIGKILL the replica an agent and the CLI talk to: heartbeats and commands go on through the other', { ...(skip ? { skip } : {}), timeout: 180_000 }, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'forge-replica-failover-'));
  let cluster: PgCluster | undefined;
  let store: Store | undefined;
  let agent: AgentHandle | undefined;
  const servers: ChildProcess[] = [];
  try {
    cluster = await startPgCluster();
    const databaseUrl = cluster.adminUrl;
    const urls: string[] = [];
    for (const replica of ['r1', 'r2']) {
      const port = await freePort();
      const env = {
        PATH: process.env.PATH ?? '', HOME: dir, FORGE_DATA_DIR: path.join(dir, replica), FORGE_API_ADDR: `127.0.0.1:${port}`,
        FORGE_DATABASE_URL: databaseUrl, FORGE_REPLICA: replica, FORGE_AGENT_TOKEN: TOKEN,
        FORGE_ENCRYPTION_KEY: Buffer.alloc(32, 9).toString('base64'), FORGE_JWT_SECRET: Buffer.alloc(32, 8).toString('base64'),
      };
      const child = spawn(process.execPath, [FORGE, 'server', '--no-local-agent', '--router', 'off'], { env, cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] });
      servers.push(child);
      const url = `http://127.0.0.1:${port}`;
      assert.ok(await until(async () => {
        assert.ok(!dead(child), `forge server ${replica} exited while starting (${child.signalCode ?? child.exitCode})`);
        return fetch(`${url}/healthz`).then((r) => r.ok, () => false);
      }), `${replica} answers /healthz`);
      urls.push(url);
    }
    const [first, second] = [urls[0]!, urls[1]!];
    store = openStore(databaseUrl);
    const { key, hash, prefix } = generateApiKey();
    store.apiKeys.create({ name: 'failover', hash, prefix });

    agent = await startAgent({
      server: `${first},${second}`, token: TOKEN, dataDir: path.join(dir, 'agent'), name: 'w1', cgroupRoot: 'forge-failover-test',
      metricsPort: null, heartbeatIntervalMs: 200, claimWaitMs: 1_000, isolation: 'off', log: () => {},
    });
    const agentId = agent.id;
    const env = { HOME: dir, FORGE_URL: `${first},${second}`, FORGE_API_KEY: key };
    const listed = await runCli(['agents', '--json'], { cwd: dir, env });
    assert.equal(listed.exitCode, 0, listed.stderr);
    assert.match(listed.stdout, new RegExp(agentId));

    servers[0]!.kill('SIGKILL');
    await new Promise<void>((resolve) => (dead(servers[0]!) ? resolve() : servers[0]!.once('exit', () => resolve())));
    const killedAt = Date.now();
    assert.equal(await fetch(`${first}/healthz`).then(() => 'up', () => 'down'), 'down');

    // Heartbeats land through the second replica: the agent's last-seen time passes the kill.
    assert.ok(await until(() => (store!.agents.get(agentId)?.lastSeenMs ?? 0) > killedAt + 500), 'the agent heartbeats after the kill');
    assert.equal(store.agents.get(agentId)?.online, true);

    const after = await runCli(['agents', '--json'], { cwd: dir, env });
    assert.equal(after.exitCode, 0, after.stderr);
    assert.match(after.stdout, new RegExp(agentId));
    const list = await runCli(['list', '--json'], { cwd: dir, env });
    assert.equal(list.exitCode, 0, list.stderr);
  } finally {
    await agent?.stop().catch(() => undefined);
    for (const child of servers) {
      if (dead(child)) continue;
      child.kill('SIGTERM');
      await new Promise<void>((resolve) => {
        const late = setTimeout(() => child.kill('SIGKILL'), 10_000);
        child.once('exit', () => { clearTimeout(late); resolve(); });
      });
    }
    store?.close();
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
