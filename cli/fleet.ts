// Read-mostly commands about the fleet: `forge releases NAME`, `forge status` (everything at a glance) and `forge scale NAME N`.

import type { AgentJson } from '../api/routes/agents.ts';
import type { ReleaseJson } from '../api/routes/releases.ts';
import type { ServiceJson } from '../api/service-json.ts';
import { parseArgs } from './args.ts';
import { servicePath, withClient } from './client.ts';
import { runDeploy } from './deploy.ts';
import type { CliDeps } from './deps.ts';
import { painter, readyCount, table, useColour } from './format.ts';
import { HELP } from './help.ts';
import { success, toJsonText, usageFailure, type CliResult } from './output.ts';
import { oneName } from './services.ts';
import { timeoutMs } from './wait.ts';

export async function releasesCommand(args: readonly string[], deps: CliDeps): Promise<CliResult> {
  const got = oneName('releases', args, {});
  if (typeof got === 'string') return usageFailure(got, HELP.releases!.usage);
  const body = await withClient(deps, (client) => client.call<{ name: string; releases: ReleaseJson[] }>('GET', servicePath(got.name, '/releases')));
  if (got.parsed.booleans.has('--json')) return success(toJsonText(body));
  if (body.releases.length === 0) return success(`${body.name} has no releases yet\n`);
  const rows = body.releases.map((r) => [
    `${r.current ? '*' : ' '}${r.number}`, String(r.generation), r.revision ?? '-', r.status, r.createdAt, r.cause ?? '',
  ]);
  return success(table([[' #', 'GENERATION', 'REVISION', 'STATUS', 'CREATED', 'CAUSE'], ...rows]) + '* the current release; roll back with forge rollback NAME --to GENERATION\n');
}

interface Providers { providers: Record<string, { configured: boolean; reason?: string }> }

export async function statusCommand(args: readonly string[], deps: CliDeps): Promise<CliResult> {
  const parsed = parseArgs('status', args, { booleans: ['--json'] });
  const usage = HELP.status!.usage;
  if (typeof parsed === 'string') return usageFailure(parsed, usage);
  if (parsed.positional.length > 0) return usageFailure(`forge status: unexpected argument \`${parsed.positional[0]}\``, usage);
  const [services, agents, config] = await withClient(deps, (client) => Promise.all([
    client.call<ServiceJson[]>('GET', '/api/compute/services'),
    client.call<{ agents: AgentJson[] }>('GET', '/api/v1/agents'),
    client.call<Providers>('GET', '/api/compute/config'),
  ]));
  if (parsed.booleans.has('--json')) return success(toJsonText({ services, agents: agents.agents, providers: config.providers }));
  const paint = painter(useColour(deps));
  const byStatus = new Map<string, number>();
  for (const s of services) byStatus.set(s.status, (byStatus.get(s.status) ?? 0) + 1);
  const counts = [...byStatus].sort(([a], [b]) => a.localeCompare(b)).map(([status, n]) => `${n} ${status}`).join(', ');
  const lines = [`services: ${services.length}${counts ? ` (${counts})` : ''}`];
  const attention = services.filter((s) => !(s.status === 'running' && s.observedGeneration >= s.generation) && s.status !== 'stopped');
  for (const s of attention) lines.push(`  ${paint(s.name.padEnd(20), s.status)} ${s.status} (generation ${s.generation}, observed ${s.observedGeneration}, ready ${readyCount(s)})`);
  const online = agents.agents.filter((a) => a.online).length;
  lines.push(`agents: ${agents.agents.length} (${online} online${agents.agents.length - online > 0 ? `, ${agents.agents.length - online} offline` : ''})`);
  for (const a of agents.agents.filter((x) => !x.online)) lines.push(`  ${a.name} (${a.id}) offline since ${a.lastSeenAt ?? 'never seen'}`);
  const providers = Object.entries(config.providers).map(([name, p]) => `${name} ${p.configured ? 'configured' : 'not configured'}`);
  lines.push(`providers: ${providers.join(', ')}`);
  return success(`${lines.join('\n')}\n`);
}

export async function scaleCommand(args: readonly string[], deps: CliDeps): Promise<CliResult> {
  const parsed = parseArgs('scale', args, { booleans: ['--json', '--no-wait'], values: ['--timeout'] });
  const usage = HELP.scale!.usage;
  if (typeof parsed === 'string') return usageFailure(parsed, usage);
  const [name, count, extra] = parsed.positional;
  if (name === undefined || count === undefined || extra !== undefined) return usageFailure('forge scale: give a service NAME and a number of replicas', usage);
  if (!/^\d+$/.test(count)) return usageFailure(`forge scale: replicas must be a whole number ≥ 0, got ${JSON.stringify(count)}`, usage);
  const timeout = timeoutMs(parsed.values.get('--timeout'));
  if (timeout === undefined) return usageFailure(`forge scale: --timeout must be a duration such as 90s or 5m, got ${JSON.stringify(parsed.values.get('--timeout'))}`, usage);
  return runDeploy({
    name, body: { replicas: Number(count) }, json: parsed.booleans.has('--json'), wait: !parsed.booleans.has('--no-wait'), timeoutMs: timeout,
  }, 'update', deps);
}
