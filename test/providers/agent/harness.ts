// A whole control plane on 127.0.0.1 for agent end-to-end tests: a store, the
// agent protocol plugin on a bare fastify, the agent provider, and the
// reconciler loop; plus real agent daemons started in-process.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Fastify, { type FastifyInstance } from 'fastify';
import { agentRoutes } from '../../../api/agent-routes.ts';
import { startAgent, type AgentHandle, type AgentOptions } from '../../../agent/daemon.ts';
import { sweepSandboxes } from '../../../agent/sandbox/index.ts';
import { createAgentProvider, type AgentProvider } from '../../../providers/agent/provider.ts';
import type { Observed } from '../../../providers/types.ts';
import { createController } from '../../../reconciler/controller.ts';
import { createLoop, type Loop } from '../../../reconciler/loop.ts';
import { applySet } from '../../../api/service-apply-set.ts';
import { loadSpecs, specHash } from '../../../specs/index.ts';
import type { ServiceSpec } from '../../../specs/types.ts';
import { openStore, type Store } from '../../../store/index.ts';

export { eventually } from '../../helpers/net.ts';

export const REGISTRATION_TOKEN = 'e2e-registration-token';
export const EXAMPLES = fileURLToPath(new URL('../../../examples/', import.meta.url));

export interface ControlPlane {
  dir: string;
  url: string;
  store: Store;
  provider: AgentProvider;
  loop: Loop;
  app: FastifyInstance;
  agents: AgentHandle[];
  startAgent(name: string, extra: Partial<AgentOptions> & { portRange: { from: number; to: number } }): Promise<AgentHandle>;
  deploy(specs: ServiceSpec[]): void;
  observed(key: string): Promise<Observed | undefined>;
  close(): Promise<void>;
}

export async function loadExample(name: string): Promise<ServiceSpec> {
  const result = await loadSpecs([path.join(EXAMPLES, name)], { cwd: EXAMPLES });
  if (!result.ok) throw new Error(`example ${name} does not load: ${JSON.stringify(result.problems)}`);
  return result.specs[0]!.spec;
}

export async function startControlPlane(options: {
  heartbeatTimeoutMs: number;
  leaseMs: number;
  /** Hooks a test adds to the protocol server (fastify takes none once listening). */
  beforeListen?: (app: FastifyInstance) => void;
}): Promise<ControlPlane> {
  const dir = mkdtempSync(path.join(tmpdir(), 'forge-agent-e2e-'));
  const store = openStore(path.join(dir, 'control'));
  const provider = createAgentProvider({
    store, heartbeatTimeoutMs: options.heartbeatTimeoutMs, leaseMs: options.leaseMs, resyncMinIntervalMs: 100,
  });
  // Agents keep connections alive between calls; closing must not wait out keepAliveTimeout.
  const app = Fastify({ forceCloseConnections: true });
  await app.register(agentRoutes({
    store, hub: provider.hub, registrationTokens: [REGISTRATION_TOKEN], secretsFor: () => ({}),
    leaseMs: options.leaseMs, heartbeatIntervalMs: 200,
  }));
  options.beforeListen?.(app);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  const providers = () => [provider];
  const controller = createController({
    store, provider: (name) => (name === 'agent' ? provider : undefined), providers, secretsFor: () => ({}), now: Date.now, pollMs: 200,
    crashBackoff: { baseMs: 500, maxMs: 2_000 },
  });
  const loop = createLoop({ store, controller, providers, resyncIntervalMs: 300, backoff: { baseMs: 200, maxMs: 1_000 } });
  loop.start();
  const agents: AgentHandle[] = [];
  const roots: string[] = [];

  return {
    dir, url, store, provider, loop, app, agents,
    async startAgent(name, extra) {
      const cgroupRoot = `forge-e2e-${name}-${process.pid}`;
      roots.push(cgroupRoot);
      const agent = await startAgent({
        server: url, token: REGISTRATION_TOKEN, dataDir: path.join(dir, name), name, cgroupRoot, mode: 'production',
        metricsPort: 0, metricsHost: '127.0.0.1', heartbeatIntervalMs: 200, claimWaitMs: 2_000, stopGraceMs: 2_000,
        startTimeoutMs: 30_000, log: () => {}, ...extra,
      });
      agents.push(agent);
      return agent;
    },
    deploy(specs) {
      const plan = applySet(store, 'e2e', specs.map((spec) => ({ spec, hash: specHash(spec) })));
      for (const key of plan.changed) loop.nudge(key);
    },
    async observed(key) {
      return (await provider.observe([key]))[0];
    },
    async close() {
      await loop.stop();
      for (const agent of agents) await agent.kill();
      await app.close();
      store.close();
      for (const root of roots) await sweepSandboxes(root).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}


/** The app process of an instance (not the sandbox's wrappers): the pid whose command line names `needle`. */
export async function appPid(agent: AgentHandle, instanceId: string, needle: string): Promise<number | undefined> {
  const handle = agent.supervisor.handles().find((h) => h.id === instanceId);
  if (!handle) return undefined;
  for (const pid of await handle.sandbox.pids()) {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
      if (cmdline.includes(needle) && !cmdline.includes('/bin/sh')) return pid;
    } catch {
      // gone meanwhile
    }
  }
  return undefined;
}

export async function httpText(address: string, pathname: string): Promise<string> {
  const res = await fetch(`http://${address}${pathname}`, { signal: AbortSignal.timeout(3_000) });
  return `${res.status} ${await res.text()}`;
}
