// The Forge half of bench/pm2.ts: one whole one-machine Forge in this process
// (control plane, loop, agent provider, an in-process agent, a managed caddy),
// wired like test/e2e/stack.ts. The N hello copies are applied the way `forge dev`
// applies a folder; "ready" is every service `running` at its current generation
// (the agent only reports running once /health answers).
//
// The agent is the embedded one's code (startLocalAgent) started here rather than
// by the control plane, only so its advertised CPU capacity can be given: Forge
// reserves each service's `resources.cpu` and the schema's minimum is 0.1, so
// 50 services (51 during a cutover) need 5.1 CPUs; a 2-core host would place 19.
// Each instance is still capped at 0.1 CPU by its cgroup.

import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { resolveConfig } from '../../api/config.ts';
import { startControlPlane } from '../../api/control-plane.ts';
import { startLocalAgent } from '../../agent/local.ts';
import { sweepSandboxes } from '../../agent/sandbox/index.ts';
import { applyDirectory } from '../../cli/dev/apply-dir.ts';
import { startRouting } from '../../router/start.ts';
import { freePort } from '../../test/e2e/stack.ts';
import { setVersion, type HelloCopy } from './hello-copies.ts';
import { descendants, parentMap, rssBytes, samplePeak, type MemorySample } from './proc-memory.ts';
import { swapUnderLoad, untilTrue, type SwapOptions, type SwapResult } from './swap.ts';

export interface ForgeResult {
  readyMs: number;
  memory: MemorySample;
  /** Peak RSS of the managed caddy during the start (not in `memory`: PM2 has no router). */
  caddyBytes: number;
  /** RSS of this process before the control plane started (the bench's own share of `manager`). */
  baselineBytes: number;
  agentCpus: number;
  swap: SwapResult;
}

export interface ForgeOptions extends SwapOptions {
  /** Folder holding the copies (applied as one `forge dev` folder). */
  appsDir: string;
  copies: readonly HelloCopy[];
  cpusPerService: number;
  startLimitMs: number;
  /** 'off' runs the agent without its sandbox (FORGE_ISOLATION=off), for the isolation-cost comparison. */
  isolation?: 'auto' | 'off';
}

export async function runForge(options: ForgeOptions): Promise<ForgeResult> {
  const baselineBytes = rssBytes(process.pid);
  const dir = mkdtempSync(path.join(tmpdir(), 'forge-bench-pm2-'));
  const agentToken = `fagr_${randomBytes(24).toString('base64url')}`;
  const httpAddr = `127.0.0.1:${await freePort()}`;
  const adminAddr = `127.0.0.1:${await freePort()}`;
  const env = { PATH: process.env.PATH, FORGE_HTTP_ADDR: httpAddr, FORGE_DATA_DIR: path.join(dir, 'data'), FORGE_API_ADDR: '127.0.0.1:0', FORGE_AGENT_TOKEN: agentToken };
  const { config } = resolveConfig(env, {}, randomBytes, dir);
  const cgroupRoot = `forge-bench-pm2-${process.pid}-${randomBytes(3).toString('hex')}`;
  const agentCpus = Math.ceil((options.copies.length + 1) * options.cpusPerService) + 1;
  const from = 22_000 + Math.floor(Math.random() * 100) * 100; // below the ephemeral ports (32768+)
  const stops: Array<() => Promise<unknown>> = [];
  let sampler: ReturnType<typeof samplePeak> | undefined;
  try {
    const routing = await startRouting({ env, dataDir: config.dataDir, domain: 'localhost', production: false, mode: 'managed', adminAddr });
    stops.push(() => routing.stop());
    const plane = await startControlPlane(config, {
      env, logger: false, resyncIntervalMs: 1_000, heartbeatIntervalMs: 500, noLocalAgent: true,
      ...(routing.router ? { routes: routing.router } : {}),
    });
    stops.push(() => plane.close());
    const agent = await startLocalAgent({
      apiUrl: plane.url, registrationToken: agentToken, dataDir: config.dataDir, mode: config.mode,
      portRange: { from, to: from + 99 }, heartbeatIntervalMs: 500, cgroupRoot, capacity: { cpus: agentCpus },
      ...(options.isolation ? { isolation: options.isolation } : {}),
      log: () => undefined,
    });
    // Run in reverse: the agent stops its instances, then the sweep removes its cgroup root.
    stops.push(() => sweepSandboxes(cgroupRoot), () => agent.stop());

    const caddyPid = routing.caddy?.pid;
    let caddyBytes = 0;
    sampler = samplePeak(() => {
      const parents = parentMap();
      const caddyTree = new Set(caddyPid === undefined ? [] : [caddyPid, ...descendants(caddyPid, parents)]);
      const children = descendants(process.pid, parents).filter((pid) => !caddyTree.has(pid));
      caddyBytes = Math.max(caddyBytes, [...caddyTree].reduce((sum, pid) => sum + rssBytes(pid), 0));
      return { manager: rssBytes(process.pid), apps: children.reduce((sum, pid) => sum + rssBytes(pid), 0) };
    });
    const generationOf = (name: string) => plane.store.services.get(name)?.generation;
    const current = (name: string) => {
      const status = plane.store.status.get(name);
      return status?.phase === 'running' && status.observedGeneration === generationOf(name);
    };
    const apply = async () => {
      const result = await applyDirectory(plane.store, options.appsDir, dir);
      if (!result.ok) throw new Error(`apply failed: ${result.problems.join('; ')}`);
      for (const key of result.plan.changed) plane.nudge(key);
    };

    const started = performance.now();
    await apply();
    await untilTrue(options.startLimitMs, () => options.copies.every((c) => current(c.name))).catch(() => {
      const late = options.copies.filter((c) => !current(c.name));
      const first = late[0] && plane.store.status.get(late[0].name);
      throw new Error(`forge: ${late.length} of ${options.copies.length} services not running after ${options.startLimitMs} ms ` +
        `(${late[0]?.name}: ${JSON.stringify(first)})`);
    });
    const readyMs = performance.now() - started;
    await new Promise((r) => setTimeout(r, 1_000)); // settle, as on the PM2 side
    const memory = sampler.stop();

    const target = options.copies[0]!;
    const swap = await swapUnderLoad(httpAddr, `${target.name}.localhost`, options, async () => {
      setVersion(target.dir, 'v2');
      await apply();
    }, async () => {
      const [observed] = await plane.observe([target.name]);
      return current(target.name) && observed?.instances.length === 1;
    });
    return { readyMs, memory, caddyBytes, baselineBytes, agentCpus, swap };
  } finally {
    sampler?.stop();
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}
