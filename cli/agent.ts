// `forge agent --server URL --token T [--data-dir D] [--port-range 20000-32767] [--metrics-port 9108]`:
// runs a worker agent until the signal aborts (SIGINT/SIGTERM), then stops its
// instances and exits 0.

import path from 'node:path';
import { startAgent, parsePortRange, DEFAULT_AGENT_DATA_DIR, type AgentHandle, type AgentOptions } from '../agent/index.ts';
import type { ForgeError } from '../errors/index.ts';
import type { CliDeps } from './deps.ts';
import { success, usageFailure, type CliResult } from './output.ts';

export const AGENT_USAGE =
  'usage: forge agent --server URL --token T [--data-dir D] [--port-range 20000-32767] [--metrics-port 9108] [--name N] [--cgroup-root R]';

const HELP = `${AGENT_USAGE}

Runs a worker agent: registers with the control plane at URL, heartbeats, claims build/run/stop tasks
and runs them in sandboxes (cgroups + namespaces). Stops its instances on SIGINT/SIGTERM.

  --server URL         control plane base URL (FORGE_URL)
  --token T            registration token (FORGE_AGENT_TOKEN)
  --data-dir D         where releases, logs and the agent id live (default: $FORGE_DATA_DIR/agent or .forge/agent)
  --port-range A-B     ports handed to instances (default 20000-32767)
  --metrics-port P     Prometheus exporter port (default 9108; 0 = any free port; off = none)
  --name N             name shown on the control plane (default: host name)
  --cgroup-root R      parent cgroup of this agent's sandboxes (default forge-agent)
  --host H             address put into instance addresses (default 127.0.0.1)
`;

/** The CLI's deps plus what a long-running command needs; bin/forge provides the signal. */
export interface AgentCliDeps extends CliDeps {
  /** Aborts on SIGINT/SIGTERM. */
  signal?: AbortSignal;
  log?: (line: string) => void;
  /** Replaced in tests. */
  startAgent?: (options: AgentOptions) => Promise<AgentHandle>;
}

const VALUE_FLAGS = new Set(['--server', '--token', '--data-dir', '--port-range', '--metrics-port', '--name', '--cgroup-root', '--host']);

export function parseAgentArgs(args: readonly string[], deps: CliDeps): AgentOptions | { help: true } | string {
  const values = new Map<string, string>();
  for (let i = 0; i < args.length; i += 1) {
    const arg = args[i]!;
    if (arg === '--help' || arg === '-h') return { help: true };
    const eq = arg.indexOf('=');
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    if (!VALUE_FLAGS.has(flag)) return `forge agent: unknown ${arg.startsWith('-') ? 'flag' : 'argument'} \`${arg}\``;
    const value = eq > 0 ? arg.slice(eq + 1) : args[(i += 1)];
    if (value === undefined || value === '') return `forge agent: ${flag} needs a value`;
    values.set(flag, value);
  }
  const server = values.get('--server') ?? deps.env.FORGE_URL;
  const token = values.get('--token') ?? deps.env.FORGE_AGENT_TOKEN;
  if (!server) return 'forge agent: --server URL is required (or set FORGE_URL)';
  if (!/^https?:\/\/[^\s/]+/.test(server)) return `forge agent: --server must be an http(s) URL, got \`${server}\``;
  if (!token) return 'forge agent: --token T is required (or set FORGE_AGENT_TOKEN)';

  const dataDir = path.resolve(deps.cwd, values.get('--data-dir')
    ?? (deps.env.FORGE_DATA_DIR ? path.join(deps.env.FORGE_DATA_DIR, 'agent') : DEFAULT_AGENT_DATA_DIR));
  const options: AgentOptions = { server, token, dataDir, mode: deps.env.FORGE_MODE === 'production' ? 'production' : 'development' };
  try {
    const range = values.get('--port-range');
    if (range !== undefined) options.portRange = parsePortRange(range);
  } catch (error) {
    return `forge agent: ${(error as ForgeError).message}`;
  }
  const metrics = values.get('--metrics-port');
  if (metrics === 'off') options.metricsPort = null;
  else if (metrics !== undefined) {
    const port = Number(metrics);
    if (!Number.isInteger(port) || port < 0 || port > 65_535) return `forge agent: --metrics-port must be a port number or \`off\`, got \`${metrics}\``;
    options.metricsPort = port;
  }
  const name = values.get('--name');
  if (name !== undefined) options.name = name;
  const root = values.get('--cgroup-root');
  if (root !== undefined) {
    if (!/^[A-Za-z0-9_.-]+$/.test(root)) return `forge agent: --cgroup-root must be a plain directory name, got \`${root}\``;
    options.cgroupRoot = root;
  }
  const host = values.get('--host');
  if (host !== undefined) options.host = host;
  return options;
}

export async function agentCommand(args: readonly string[], deps: AgentCliDeps): Promise<CliResult> {
  const parsed = parseAgentArgs(args, deps);
  if (typeof parsed === 'string') return usageFailure(parsed, AGENT_USAGE);
  if ('help' in parsed) return success(HELP);
  const log = deps.log ?? ((line: string) => process.stderr.write(`forge agent: ${line}\n`));
  const signal = deps.signal ?? processSignal();
  const agent = await (deps.startAgent ?? startAgent)({ ...parsed, log });
  if (!signal.aborted) await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
  log('stopping: ending instances');
  await agent.stop();
  return success(`agent ${agent.id} stopped\n`);
}

/**
 * Until CliDeps carries a signal, the command listens for SIGINT/SIGTERM itself
 * (the only process-level hook it uses; bin/forge still owns argv, exit and the terminal).
 */
function processSignal(): AbortSignal {
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  controller.signal.addEventListener('abort', () => {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  });
  return controller.signal;
}
