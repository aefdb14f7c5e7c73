// `forge agents [list] [--json]` and `forge agents revoke ID`: the worker agents as the
// API sees them, and revoking one (its credential is refused from then on). Parses its
// few arguments itself so it does not depend on the shared flag parser.

import type { CliDeps } from './deps.ts';
import { withClient } from './client.ts';
import { table } from './format.ts';
import { success, toJsonText, usageFailure, type CliResult } from './output.ts';

export const AGENTS_USAGE = 'usage: forge agents [list] [--json] | revoke ID [--json]';

interface AgentJson {
  id: string;
  name: string;
  capacity: { cpus: number; memoryBytes: number };
  capacityVerified: boolean;
  online: boolean;
  revokedAt: string | null;
}

function state(a: AgentJson): string {
  if (a.revokedAt !== null) return 'revoked';
  return a.online ? 'online' : 'offline';
}

function capacityText(a: AgentJson): string {
  const text = `${a.capacity.cpus} CPU, ${Math.round(a.capacity.memoryBytes / 2 ** 20)} MB`;
  return a.capacityVerified ? text : `${text} (unverified)`;
}

export async function agentsCommand(args: readonly string[], deps: CliDeps): Promise<CliResult> {
  const json = args.includes('--json');
  const rest = args.filter((a) => a !== '--json');
  if (rest.includes('--help') || rest.includes('-h')) {
    return success(`${AGENTS_USAGE}\n\nRevoking an agent refuses its credential at once; its tasks are placed elsewhere.\n`);
  }
  const unknown = rest.find((a) => a.startsWith('-'));
  if (unknown !== undefined) return usageFailure(`forge agents: unknown option ${unknown}`, AGENTS_USAGE);
  const [sub = 'list', ...operands] = rest;
  if (sub === 'list' && operands.length === 0) {
    const body = await withClient(deps, (client) => client.call<{ agents: AgentJson[] }>('GET', '/api/v1/agents'));
    if (json) return success(toJsonText(body));
    if (body.agents.length === 0) return success('no agents registered\n');
    const rows = [['ID', 'NAME', 'STATE', 'CAPACITY'], ...body.agents.map((a) => [a.id, a.name, state(a), capacityText(a)])];
    return success(table(rows));
  }
  if (sub === 'revoke' && operands.length === 1) {
    const id = operands[0]!;
    const body = await withClient(deps, (client) => client.call<{ agent: AgentJson }>('POST', `/api/v1/agents/${encodeURIComponent(id)}/revoke`));
    return success(json ? toJsonText(body) : `revoked agent ${body.agent.id} (${body.agent.name})\n`);
  }
  return usageFailure(`forge agents: expected \`list\` or \`revoke ID\``, AGENTS_USAGE);
}
