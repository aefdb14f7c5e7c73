// `forge agent --server URL[,URL…] [--token-file F] [--data-dir D] …`: runs a worker agent
// until the signal aborts (SIGINT/SIGTERM), then stops its instances and exits 0.
// The registration token is a secret: it comes from a file or FORGE_AGENT_TOKEN,
// since argv is readable by every local user (`ps`); `--token T` still works but warns.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { startAgent, parsePortRange, DEFAULT_AGENT_DATA_DIR, type AgentHandle, type AgentOptions } from '../agent/index.ts';
import type { ForgeError } from '../errors/index.ts';
import { splitServerList } from '../net/failover.ts';
import { parseArgs } from './args.ts';
import type { CliDeps } from './deps.ts';
import { HELP } from './help.ts';
import { success, usageFailure, type CliResult } from './output.ts';

export const AGENT_USAGE = HELP.agent!.usage;

export const TOKEN_IN_ARGV_WARNING = 'warning: --token puts the registration token in the process table (ps) of this host; use --token-file F or FORGE_AGENT_TOKEN';

/** The CLI's deps plus what a long-running command needs; bin/forge provides the signal. */
export interface AgentCliDeps extends CliDeps {
  /** Aborts on SIGINT/SIGTERM. */
  signal?: AbortSignal;
  log?: (line: string) => void;
  /** Replaced in tests. */
  startAgent?: (options: AgentOptions) => Promise<AgentHandle>;
}

const FLAGS = { values: ['--server', '--token', '--token-file', '--data-dir', '--port-range', '--metrics-port', '--name', '--cgroup-root', '--host'] };

/** The token: --token-file, else --token, else FORGE_AGENT_TOKEN; only the file's path is ever shown. */
function readToken(values: Map<string, string>, deps: CliDeps): { token?: string } | string {
  const file = values.get('--token-file');
  if (file !== undefined) {
    if (values.has('--token')) return 'forge agent: give --token-file or --token, not both';
    let text: string;
    try {
      text = readFileSync(path.resolve(deps.cwd, file), 'utf8');
    } catch (error) {
      return `forge agent: --token-file: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? 'error'})`;
    }
    const token = text.trim();
    if (token === '') return `forge agent: --token-file: ${file} is empty`;
    return { token };
  }
  const token = values.get('--token') ?? deps.env.FORGE_AGENT_TOKEN?.trim();
  return token ? { token } : {};
}

export function parseAgentArgs(args: readonly string[], deps: CliDeps): AgentOptions | string {
  const parsed = parseArgs('agent', args, FLAGS);
  if (typeof parsed === 'string') return parsed;
  if (parsed.positional.length > 0) return `forge agent: unexpected argument \`${parsed.positional[0]}\``;
  const values = parsed.values;
  for (const [flag, value] of values) if (value === '') return `forge agent: ${flag} needs a value`;
  const server = values.get('--server') ?? deps.env.FORGE_URL;
  if (!server) return 'forge agent: --server URL is required (or set FORGE_URL)';
  // A comma-separated list names several replicas of one control plane: the agent fails over between them.
  const servers = splitServerList(server);
  if (servers.length === 0) return 'forge agent: --server needs at least one URL';
  for (const url of servers) if (!/^https?:\/\/[^\s/,]+/.test(url)) return `forge agent: --server must be an http(s) URL or a comma-separated list of them, got \`${url}\``;
  const read = readToken(values, deps);
  if (typeof read === 'string') return read;
  const { token } = read;
  if (!token) return 'forge agent: a registration token is required: --token-file F (or set FORGE_AGENT_TOKEN)';

  const dataDir = path.resolve(deps.cwd, values.get('--data-dir')
    ?? (deps.env.FORGE_DATA_DIR ? path.join(deps.env.FORGE_DATA_DIR, 'agent') : DEFAULT_AGENT_DATA_DIR));
  const options: AgentOptions = { server: servers.join(','), token, dataDir, mode: deps.env.FORGE_MODE === 'production' ? 'production' : 'development' };
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
  const log = deps.log ?? ((line: string) => process.stderr.write(`forge agent: ${line}\n`));
  if (args.some((a) => a === '--token' || a.startsWith('--token='))) log(TOKEN_IN_ARGV_WARNING);
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
