// `forge secrets set NAME K=V… | unset NAME K… | list NAME`: a service's env
// vars through envVarsPatch. Only names are ever printed; values go to the API
// (encrypted at rest there) and nowhere else. A value need not be in argv (which
// every local user can read with ps): `K=-` reads it from stdin, `--from-file
// K=PATH` from a file, `--from-env K=VAR` from this process's environment.

import type { ServiceJson } from '../api/service-json.ts';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from './args.ts';
import { HELP } from './help.ts';
import { servicePath, withClient } from './client.ts';
import type { CliDeps } from './deps.ts';
import type { EnvPatch } from '../api/service-spec.ts';
import { envNameProblem } from './env-flags.ts';
import { success, toJsonText, usageFailure, type CliResult } from './output.ts';

export const SECRETS_USAGE = HELP.secrets!.usage;

const FLAGS = { booleans: ['--json'], repeated: ['--from-file', '--from-env'] };

export async function secretsCommand(args: readonly string[], deps: CliDeps): Promise<CliResult> {
  const parsed = parseArgs('secrets', args, FLAGS);
  if (typeof parsed === 'string') return usageFailure(parsed, SECRETS_USAGE);
  const [sub, name, ...items] = parsed.positional;
  if (sub === undefined) return usageFailure('forge secrets: no subcommand given', SECRETS_USAGE);
  if (!['set', 'unset', 'list'].includes(sub)) return usageFailure(`forge secrets: unknown subcommand \`${sub}\``, SECRETS_USAGE);
  if (name === undefined) return usageFailure(`forge secrets ${sub}: no service NAME given`, SECRETS_USAGE);
  const json = parsed.booleans.has('--json');
  const fromFile = parsed.repeated.get('--from-file') ?? [];
  const fromEnv = parsed.repeated.get('--from-env') ?? [];
  if (sub !== 'set' && fromFile.length + fromEnv.length > 0) return usageFailure(`forge secrets ${sub}: --from-file and --from-env belong to secrets set`, SECRETS_USAGE);

  if (sub === 'list') {
    if (items.length > 0) return usageFailure(`forge secrets list: unexpected argument \`${items[0]}\``, SECRETS_USAGE);
    const service = await withClient(deps, (client) => client.call<ServiceJson>('GET', servicePath(name)));
    if (json) return success(toJsonText({ name: service.name, envKeys: service.envKeys }));
    return success(service.envKeys.length === 0 ? `${service.name} has no env vars\n` : service.envKeys.map((k) => `${k}\n`).join(''));
  }
  if (items.length + fromFile.length + fromEnv.length === 0) return usageFailure(`forge secrets ${sub}: give at least one ${sub === 'set' ? 'KEY=VALUE' : 'KEY'}`, SECRETS_USAGE);
  const body = secretsBody(sub as 'set' | 'unset', items);
  if (typeof body === 'string') return usageFailure(body, SECRETS_USAGE);
  if (body.envVarsPatch.set) {
    const filled = await fillIndirect(body.envVarsPatch.set, items, fromFile, fromEnv, deps);
    if (typeof filled === 'string') return usageFailure(filled, SECRETS_USAGE);
  }
  const service = await withClient(deps, (client) => client.call<ServiceJson>('PATCH', servicePath(name), body));
  if (json) return success(toJsonText(service));
  const keys = sub === 'set' ? Object.keys(body.envVarsPatch.set ?? {}) : body.envVarsPatch.unset ?? [];
  return success(`${sub === 'set' ? 'set' : 'unset'} ${keys.join(', ')} on ${service.name} (generation ${service.generation}); env keys now: ${service.envKeys.join(', ') || 'none'}\n`);
}

function keyAndRef(flag: string, pair: string): [string, string] | string {
  const eq = pair.indexOf('=');
  if (eq <= 0 || eq === pair.length - 1) return `forge secrets set: ${flag} needs KEY=${flag === '--from-file' ? 'PATH' : 'VAR'}`;
  const key = pair.slice(0, eq);
  const bad = envNameProblem(key);
  return bad ? `forge secrets set: ${flag}: ${bad}` : [key, pair.slice(eq + 1)];
}

/**
 * Fills the values that are not in argv: `KEY=-` from stdin (one key at most), then
 * --from-file and --from-env. One trailing newline is dropped (`echo` adds it).
 * Mistakes name the key, the path or the variable, never a value.
 */
async function fillIndirect(set: Record<string, string>, items: readonly string[], fromFile: readonly string[], fromEnv: readonly string[], deps: CliDeps): Promise<void | string> {
  const stdinKeys = items.filter((item) => item.endsWith('=-')).map((item) => item.slice(0, -2));
  if (stdinKeys.length > 1) return `forge secrets set: only one KEY=- can read stdin (got ${stdinKeys.join(', ')})`;
  if (stdinKeys.length === 1) {
    if (!deps.readStdin) return 'forge secrets set: KEY=- reads the value from stdin, and there is no stdin to read';
    set[stdinKeys[0]!] = chomp(await deps.readStdin());
  }
  for (const pair of fromFile) {
    const got = keyAndRef('--from-file', pair);
    if (typeof got === 'string') return got;
    try {
      set[got[0]] = chomp(readFileSync(resolve(deps.cwd, got[1]), 'utf8'));
    } catch (error) {
      return `forge secrets set: --from-file: cannot read ${got[1]} (${(error as NodeJS.ErrnoException).code ?? 'error'})`;
    }
  }
  for (const pair of fromEnv) {
    const got = keyAndRef('--from-env', pair);
    if (typeof got === 'string') return got;
    const value = deps.env[got[1]];
    if (value === undefined) return `forge secrets set: --from-env: ${got[1]} is not set in this environment`;
    set[got[0]] = value;
  }
  const twice = Object.keys(set).length !== items.length + fromFile.length + fromEnv.length;
  if (twice) return 'forge secrets set: a KEY was given more than once';
}

function chomp(text: string): string {
  return text.endsWith('\r\n') ? text.slice(0, -2) : text.endsWith('\n') ? text.slice(0, -1) : text;
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
