// The env flags of `deploy` and `update` → the API's envVars (replace all) or
// envVarsPatch (merge). Pure apart from reading --env-file. Usage mistakes are
// returned as text and never echo a value (values are secrets).

import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { EnvPatch } from '../api/service-spec.ts';
import type { ParsedArgs } from './args.ts';

export const ENV_FLAGS = { values: ['--env', '--env-file'], repeated: ['--env-set', '--env-unset'] } as const;

export interface EnvBody {
  envVars?: Record<string, string>;
  envVarsPatch?: EnvPatch;
}

const ENV_NAME = /^[A-Z_][A-Z0-9_]*$/;

/** Why `name` cannot be an env var name, or undefined when it can. */
export function envNameProblem(name: string): string | undefined {
  // A name holding "=" may be NAME=value given where a name belongs: never repeat it.
  if (name.includes('=')) return 'a variable name cannot contain "=" (give names only)';
  return ENV_NAME.test(name) ? undefined : `${JSON.stringify(name)} is not a valid variable name (A-Z, 0-9 and _, not starting with a digit)`;
}

function checkName(command: string, flag: string, name: string): string | undefined {
  const bad = envNameProblem(name);
  return bad ? `forge ${command}: ${flag}: ${bad}` : undefined;
}

/** `KEY=VALUE` lines; blank lines and # comments skipped; `export ` and matching quotes dropped. */
export function parseEnvFile(text: string, shownAs: string): Record<string, string> | string {
  const values: Record<string, string> = {};
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i += 1) {
    const line = lines[i]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    const body = line.startsWith('export ') ? line.slice(7).trimStart() : line;
    const eq = body.indexOf('=');
    const name = eq > 0 ? body.slice(0, eq).trim() : '';
    if (!ENV_NAME.test(name)) return `${shownAs}:${i + 1}: expected KEY=VALUE with KEY made of A-Z, 0-9 and _`;
    let value = body.slice(eq + 1).trim();
    if (value.length >= 2 && (value[0] === '"' || value[0] === "'") && value.at(-1) === value[0]) value = value.slice(1, -1);
    values[name] = value;
  }
  return values;
}

function parseEnvJson(command: string, text: string): Record<string, string> | string {
  const wrong = `forge ${command}: --env must be a JSON object of string values, such as '{"KEY":"value"}'`;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return wrong;
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return wrong;
  for (const [name, value] of Object.entries(parsed)) {
    if (typeof value !== 'string') return wrong;
    const bad = checkName(command, '--env', name);
    if (bad) return bad;
  }
  return parsed as Record<string, string>;
}

export function envBody(command: string, parsed: ParsedArgs, cwd: string): EnvBody | string {
  const json = parsed.values.get('--env');
  const file = parsed.values.get('--env-file');
  const sets = parsed.repeated.get('--env-set') ?? [];
  const unsets = parsed.repeated.get('--env-unset') ?? [];
  const patching = sets.length > 0 || unsets.length > 0;
  if (json !== undefined && file !== undefined) return `forge ${command}: --env and --env-file cannot be used together (each replaces every variable)`;
  const replacing = json !== undefined ? '--env' : file !== undefined ? '--env-file' : undefined;
  if (replacing && patching) return `forge ${command}: ${replacing} replaces every variable; it cannot be combined with --env-set or --env-unset`;

  if (json !== undefined) {
    const values = parseEnvJson(command, json);
    return typeof values === 'string' ? values : { envVars: values };
  }
  if (file !== undefined) {
    let text: string;
    try {
      text = readFileSync(resolve(cwd, file), 'utf8');
    } catch {
      return `forge ${command}: --env-file: cannot read ${file}`;
    }
    const values = parseEnvFile(text, file);
    return typeof values === 'string' ? `forge ${command}: --env-file: ${values}` : { envVars: values };
  }
  if (!patching) return {};
  const set: Record<string, string> = {};
  for (const [index, pair] of sets.entries()) {
    const eq = pair.indexOf('=');
    if (eq <= 0) return `forge ${command}: --env-set needs KEY=VALUE (the ${ordinal(index + 1)} --env-set has no KEY=)`;
    const name = pair.slice(0, eq);
    const bad = checkName(command, '--env-set', name);
    if (bad) return bad;
    set[name] = pair.slice(eq + 1);
  }
  for (const name of unsets) {
    const bad = checkName(command, '--env-unset', name);
    if (bad) return bad;
    if (Object.hasOwn(set, name)) return `forge ${command}: ${name} is both set and unset`;
  }
  return { envVarsPatch: { ...(sets.length > 0 ? { set } : {}), ...(unsets.length > 0 ? { unset: [...unsets] } : {}) } };
}

function ordinal(n: number): string {
  return n === 1 ? '1st' : n === 2 ? '2nd' : n === 3 ? '3rd' : `${n}th`;
}
