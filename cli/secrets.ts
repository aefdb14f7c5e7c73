// `forge secrets set NAME K=V… | unset NAME K… | list NAME`: a service's env
// vars through envVarsPatch. Only names are ever printed; values go to the API
// (encrypted at rest there) and nowhere else.

import type { ServiceJson } from '../api/service-json.ts';
import { parseArgs } from './args.ts';
import { servicePath, withClient } from './client.ts';
import type { CliDeps } from './deps.ts';
import type { EnvPatch } from '../api/service-spec.ts';
import { envNameProblem } from './env-flags.ts';
import { success, toJsonText, usageFailure, type CliResult } from './output.ts';

export const SECRETS_USAGE = 'usage: forge secrets set NAME KEY=VALUE… | unset NAME KEY… | list NAME [--json]';

export async function secretsCommand(args: readonly string[], deps: CliDeps): Promise<CliResult> {
  const parsed = parseArgs('secrets', args, { booleans: ['--json', '--help'] });
  if (typeof parsed === 'string') return usageFailure(parsed, SECRETS_USAGE);
  const [sub, name, ...items] = parsed.positional;
  if (parsed.booleans.has('--help') || sub === 'help') return success(`${SECRETS_USAGE}\n\nChanging a secret redeploys the service with the new values.\n`);
  if (sub === undefined) return usageFailure('forge secrets: no subcommand given', SECRETS_USAGE);
  if (!['set', 'unset', 'list'].includes(sub)) return usageFailure(`forge secrets: unknown subcommand \`${sub}\``, SECRETS_USAGE);
  if (name === undefined) return usageFailure(`forge secrets ${sub}: no service NAME given`, SECRETS_USAGE);
  const json = parsed.booleans.has('--json');

  if (sub === 'list') {
    if (items.length > 0) return usageFailure(`forge secrets list: unexpected argument \`${items[0]}\``, SECRETS_USAGE);
    const service = await withClient(deps, (client) => client.call<ServiceJson>('GET', servicePath(name)));
    if (json) return success(toJsonText({ name: service.name, envKeys: service.envKeys }));
    return success(service.envKeys.length === 0 ? `${service.name} has no env vars\n` : service.envKeys.map((k) => `${k}\n`).join(''));
  }
  if (items.length === 0) return usageFailure(`forge secrets ${sub}: give at least one ${sub === 'set' ? 'KEY=VALUE' : 'KEY'}`, SECRETS_USAGE);
  const body = secretsBody(sub as 'set' | 'unset', items);
  if (typeof body === 'string') return usageFailure(body, SECRETS_USAGE);
  const service = await withClient(deps, (client) => client.call<ServiceJson>('PATCH', servicePath(name), body));
  if (json) return success(toJsonText(service));
  const keys = sub === 'set' ? Object.keys(body.envVarsPatch.set ?? {}) : body.envVarsPatch.unset ?? [];
  return success(`${sub === 'set' ? 'set' : 'unset'} ${keys.join(', ')} on ${service.name} (generation ${service.generation}); env keys now: ${service.envKeys.join(', ') || 'none'}\n`);
}

/** `KEY=VALUE…` (set) or `KEY…` (unset) → the patch; the mistake names the argument, never a value. */
export function secretsBody(sub: 'set' | 'unset', items: readonly string[]): { envVarsPatch: EnvPatch } | string {
  if (sub === 'unset') {
    for (const name of items) {
      const bad = envNameProblem(name);
      if (bad) return `forge secrets unset: ${bad}`;
    }
    return { envVarsPatch: { unset: [...items] } };
  }
  const set: Record<string, string> = {};
  for (const [index, pair] of items.entries()) {
    const eq = pair.indexOf('=');
    if (eq <= 0) return `forge secrets set: argument ${index + 1} is not KEY=VALUE`;
    const bad = envNameProblem(pair.slice(0, eq));
    if (bad) return `forge secrets set: ${bad}`;
    set[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return { envVarsPatch: { set } };
}
