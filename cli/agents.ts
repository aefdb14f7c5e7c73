// `forge agents [list] [--json]` and `forge agents revoke ID`: the worker agents as the
// API sees them (GET /api/v1/agents: address, state, capacity, usage, instances,
// runtimes), and revoking one (its credential is refused from then on).

import type { AgentJson } from '../api/routes/agents.ts';
import { parseArgs } from './args.ts';
import { withClient } from './client.ts';
import type { CliDeps } from './deps.ts';
import { table } from './format.ts';
import { HELP } from './help.ts';
import { success, toJsonText, usageFailure, type CliResult } from './output.ts';

export const AGENTS_USAGE = HELP.agents!.usage;

function state(a: AgentJson): string {
  if (a.revokedAt !== null) return 'revoked';
  return a.online ? 'online' : 'offline';
}

function capacityText(a: AgentJson): string {
  const text = `${a.capacity.cpus} CPU, ${Math.round(a.capacity.memoryBytes / 2 ** 20)} MB`;
  return a.capacityVerified ? text : `${text} (unverified)`;
}

/** Disk the agent's image cache takes ('-' when it holds none). */
function imagesText(a: AgentJson): string {
  const bytes = a.usage.imageBytes;
  return bytes === null || bytes === 0 ? '-' : `${(bytes / 2 ** 20).toFixed(1)} MB`;
}

export async function agentsCommand(args: readonly string[], deps: CliDeps): Promise<CliResult> {
  const parsed = parseArgs('agents', args, { booleans: ['--json'] });
  if (typeof parsed === 'string') return usageFailure(parsed, AGENTS_USAGE);
  const json = parsed.booleans.has('--json');
  const [sub = 'list', ...operands] = parsed.positional;
  if (sub === 'list' && operands.length === 0) {
    const body = await withClient(deps, (client) => client.call<{ agents: AgentJson[] }>('GET', '/api/v1/agents'));
    if (json) return success(toJsonText(body));
    if (body.agents.length === 0) return success('no agents registered\n');
    const rows = [['ID', 'NAME', 'STATE', 'CAPACITY', 'IMAGES'], ...body.agents.map((a) => [a.id, a.name, state(a), capacityText(a), imagesText(a)])];
    return success(table(rows));
  }
  if (sub === 'revoke' && operands.length === 1) {
    const id = operands[0]!;
    const body = await withClient(deps, (client) => client.call<{ agent: AgentJson }>('POST', `/api/v1/agents/${encodeURIComponent(id)}/revoke`));
    return success(json ? toJsonText(body) : `revoked agent ${body.agent.id} (${body.agent.name})\n`);
  }
  return usageFailure('forge agents: expected `list` or `revoke ID`', AGENTS_USAGE);
}
