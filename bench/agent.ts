// Agent figures: time from a queued `run` task to a healthy node-hello through a
// real agent (median of 5, build included), and the scheduler placing 10,000
// services on 100 simulated agents.
//   node --import tsx bench/agent.ts        (as root: sandboxes need cgroups)

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Fastify from 'fastify';
import { agentRoutes } from '../api/agent-routes.ts';
import { startAgent } from '../agent/daemon.ts';
import { sweepSandboxes } from '../agent/sandbox/index.ts';
import { createAgentProvider } from '../providers/agent/provider.ts';
import { place, type PlacementRequest, type SchedulableAgent } from '../providers/agent/placement.ts';
import { loadSpecs, specHash } from '../specs/index.ts';
import { openStore } from '../store/index.ts';

const RUNS = 5;
const TOKEN = 'bench-registration-token';

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function runToHealthy(): Promise<number> {
  const examples = fileURLToPath(new URL('../examples/', import.meta.url));
  const loaded = await loadSpecs([path.join(examples, 'node-hello')], { cwd: examples });
  if (!loaded.ok) throw new Error('examples/node-hello does not load');
  const spec = loaded.specs[0]!.spec;
  const hash = specHash(spec);
  const dir = mkdtempSync(path.join(tmpdir(), 'forge-bench-agent-'));
  const store = openStore(path.join(dir, 'control'));
  const provider = createAgentProvider({ store, heartbeatTimeoutMs: 5_000, leaseMs: 10_000 });
  const app = Fastify({ forceCloseConnections: true });
  await app.register(agentRoutes({ store, hub: provider.hub, registrationTokens: [TOKEN], secretsFor: () => ({}), heartbeatIntervalMs: 1_000 }));
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const cgroupRoot = `forge-bench-${process.pid}`;
  const agent = await startAgent({
    server: `http://127.0.0.1:${port}`, token: TOKEN, dataDir: path.join(dir, 'agent'), name: 'bench', cgroupRoot,
    mode: process.getuid?.() === 0 ? 'production' : 'development', metricsPort: null, portRange: { from: 23_000, to: 23_099 },
    log: () => {},
  });
  store.services.upsert({ name: spec.name, spec, hash, source: 'bench' });
  store.releases.record({ name: spec.name, generation: 1, hash, spec, revision: null });
  const times: number[] = [];
  try {
    for (let run = 0; run < RUNS; run += 1) {
      const started = performance.now();
      const { instanceId } = await provider.apply(
        { kind: 'create', key: spec.name, replica: 0, spec, hash, generation: 1, reason: 'bench' }, { secrets: {} });
      await until(async () => (await provider.observe([spec.name]))[0]?.instances.some((i) => i.id === instanceId && i.health === 'healthy'));
      times.push(performance.now() - started);
      await provider.apply({ kind: 'destroy', key: spec.name, instanceId: instanceId!, reason: 'bench' }, { secrets: {} });
      await until(async () => ((await provider.observe([spec.name]))[0]?.instances.length ?? 0) === 0);
    }
  } finally {
    await agent.kill();
    await app.close();
    store.close();
    await sweepSandboxes(cgroupRoot).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
  return median(times);
}

async function until(check: () => Promise<boolean | undefined>, limitMs = 60_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`bench step did not finish within ${limitMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function placement(): number {
  const MB = 1024 * 1024;
  const agents: SchedulableAgent[] = Array.from({ length: 100 }, (_, i) => ({
    id: `agt_${String(i).padStart(3, '0')}`, online: i % 10 !== 9, capacity: { cpus: 64, memoryBytes: 256 * 1024 * MB },
  }));
  const requests: PlacementRequest[] = Array.from({ length: 10_000 }, (_, i) => ({
    key: `svc-${i % 5_000}`, replica: Math.floor(i / 5_000), cpus: 0.25 + (i % 4) * 0.25, memoryBytes: (128 + (i % 8) * 128) * MB,
  }));
  place(requests.slice(0, 100), agents, []); // warm up the JIT
  const started = performance.now();
  const result = place(requests, agents, []);
  const ms = performance.now() - started;
  if (result.placements.length + result.unschedulable.length !== requests.length) throw new Error('placement lost requests');
  return ms;
}

console.log(`placement 10000 services on 100 agents: ${Math.round(placement())} ms (target ≤ 1000 ms)`);
console.log(`run→healthy node-hello: ${Math.round(await runToHealthy())} ms`);
