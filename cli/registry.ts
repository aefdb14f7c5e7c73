// `forge registry login HOST --username U` (password from stdin or FORGE_REGISTRY_PASSWORD,
// never argv), `forge registry logout HOST`, `forge registry list`: credentials of private
// image registries, kept encrypted by the control plane (PUT/DELETE/GET /api/v1/registries).

import { parseArgs } from './args.ts';
import { withClient } from './client.ts';
import type { CliDeps } from './deps.ts';
import { table } from './format.ts';
import { HELP } from './help.ts';
import { success, toJsonText, usageFailure, type CliResult } from './output.ts';

const USAGE = HELP.registry!.usage;

interface RegistryJson { host: string; username: string; updatedAt?: string }

export async function registryCommand(args: readonly string[], deps: CliDeps): Promise<CliResult> {
  const parsed = parseArgs('registry', args, { booleans: ['--json', '--password-stdin'], values: ['--username'] });
  if (typeof parsed === 'string') return usageFailure(parsed, USAGE);
  const json = parsed.booleans.has('--json');
  const [sub = 'list', ...operands] = parsed.positional;
  if (sub === 'list' && operands.length === 0) {
    const body = await withClient(deps, (client) => client.call<{ registries: RegistryJson[] }>('GET', '/api/v1/registries'));
    if (json) return success(toJsonText(body));
    if (body.registries.length === 0) return success('no registry credentials stored\n');
    return success(table([['HOST', 'USERNAME', 'UPDATED'], ...body.registries.map((r) => [r.host, r.username, r.updatedAt ?? ''])]));
  }
  if (sub === 'login' && operands.length === 1) {
    const username = parsed.values.get('--username');
    if (username === undefined) return usageFailure('forge registry login: give --username', USAGE);
    const fromEnv = deps.env.FORGE_REGISTRY_PASSWORD;
    let password: string | undefined;
    if (parsed.booleans.has('--password-stdin') || fromEnv === undefined) {
      if (!deps.readStdin) return usageFailure('forge registry login: the password is read from stdin (or FORGE_REGISTRY_PASSWORD), and there is no stdin', USAGE);
      password = (await deps.readStdin()).replace(/\r?\n$/, '');
    } else {
      password = fromEnv;
    }
    if (password === '') return usageFailure('forge registry login: the password is empty', USAGE);
    const host = operands[0]!;
    const body = await withClient(deps, (client) => client.call<RegistryJson>('PUT', `/api/v1/registries/${encodeURIComponent(host)}`, { username, password }));
    return success(json ? toJsonText(body) : `stored credentials for ${body.host} (user ${body.username})\n`);
  }
  if (sub === 'logout' && operands.length === 1) {
    const host = operands[0]!;
    await withClient(deps, (client) => client.call('DELETE', `/api/v1/registries/${encodeURIComponent(host)}`));
    return success(`removed the credentials for ${host}\n`);
  }
  return usageFailure('forge registry: expected `login HOST --username U`, `logout HOST` or `list`', USAGE);
}
