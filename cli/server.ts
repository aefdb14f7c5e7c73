// `forge server [--addr HOST:PORT] [--data-dir DIR] [--no-local-agent]`: runs the
// control plane until `deps.signal` aborts (bin/forge aborts it on SIGINT/SIGTERM).
// Lines about what started go through `deps.print` at once, since the command's
// own result only arrives when it stops.

import { loadConfig } from '../api/config.ts';
import { startControlPlane, type ControlPlane, type ControlPlaneOptions } from '../api/control-plane.ts';
import type { Config } from '../api/config.ts';
import type { CliDeps } from './deps.ts';
import { startRouting } from '../router/start.ts';
import { parseArgs } from './args.ts';
import { HELP } from './help.ts';
import { success, usageFailure, type CliResult } from './output.ts';

export const SERVER_USAGE = HELP.server!.usage;

export interface ServerDeps extends CliDeps {
  /** Aborted to stop the server (SIGINT/SIGTERM in bin/forge). Without it the server runs until the process ends. */
  signal?: AbortSignal;
  /** Writes a line to stdout immediately. Without it, lines are returned with the result. */
  print?: (text: string) => void;
  /** Test seam and extension point (the agent helper adds its providers and plugins here). */
  startControlPlane?: (config: Config, options: ControlPlaneOptions) => Promise<ControlPlane>;
}

interface ServerArgs {
  addr?: string;
  dataDir?: string;
  noLocalAgent: boolean;
  router?: 'managed' | 'external' | 'off';
}

function parseServerArgs(args: readonly string[]): ServerArgs | string {
  const parsed = parseArgs('server', args, { booleans: ['--no-local-agent'], values: ['--addr', '--data-dir', '--router'] });
  if (typeof parsed === 'string') return parsed;
  if (parsed.positional.length > 0) return `forge server: unexpected argument \`${parsed.positional[0]}\``;
  const out: ServerArgs = { noLocalAgent: parsed.booleans.has('--no-local-agent') };
  const addr = parsed.values.get('--addr');
  const dataDir = parsed.values.get('--data-dir');
  const router = parsed.values.get('--router');
  if (addr !== undefined) out.addr = addr;
  if (dataDir !== undefined) out.dataDir = dataDir;
  if (router !== undefined) {
    if (router !== 'managed' && router !== 'external' && router !== 'off') return `forge server: --router must be managed, external or off (got \`${router}\`)`;
    out.router = router;
  }
  return out;
}

function providerLine(plane: ControlPlane): string {
  const parts = Object.entries(plane.providersConfig).map(([name, p]) =>
    p.configured ? `${name} (configured${p.reason ? `: ${p.reason}` : ''})` : `${name} (not configured: ${p.reason ?? 'unknown'})`);
  return `providers: ${parts.join(', ')}`;
}

export async function serverCommand(args: readonly string[], deps: ServerDeps): Promise<CliResult> {
  const parsed = parseServerArgs(args);
  if (typeof parsed === 'string') return usageFailure(parsed, SERVER_USAGE);
  const env = { ...deps.env };
  if (parsed.addr !== undefined) env.FORGE_API_ADDR = parsed.addr;
  if (parsed.dataDir !== undefined) env.FORGE_DATA_DIR = parsed.dataDir;
  const buffered: string[] = [];
  const print = (line: string) => (deps.print ? deps.print(`${line}\n`) : buffered.push(`${line}\n`));

  const { config, notices } = loadConfig(env, deps.cwd);
  const start = deps.startControlPlane ?? startControlPlane;
  const routing = await startRouting({
    env, dataDir: config.dataDir, domain: config.domain, production: config.mode === 'production',
    ...(parsed.router ? { mode: parsed.router } : {}),
  });
  let plane: ControlPlane;
  try {
    plane = await start(config, { env, noLocalAgent: parsed.noLocalAgent, ...(routing.router ? { routes: routing.router } : {}) });
  } catch (error) {
    await routing.stop();
    throw error;
  }
  print(`forge server: API listening on ${plane.url} (${config.mode} mode, data dir ${config.dataDir})`);
  print(providerLine(plane));
  print(`router: ${routing.notice}`);
  if (plane.localAgent) print(`local agent: ${plane.localAgent.name} (turn it off with --no-local-agent)`);
  if (config.webhookSecret) print(`GitHub webhook: POST ${plane.url}/api/v1/webhook/github (repos: ${config.allowedRepos.join(', ') || 'none allowed'}; branches: ${config.allowedBranches.join(', ')})`);
  for (const notice of notices) print(`notice: ${notice}`);

  await new Promise<void>((resolve) => {
    if (!deps.signal) return; // runs until the process is killed
    if (deps.signal.aborted) resolve();
    else deps.signal.addEventListener('abort', () => resolve(), { once: true });
  });
  await plane.close();
  await routing.stop();
  print('forge server: stopped');
  return success(buffered.join(''));
}
