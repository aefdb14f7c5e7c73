// Options every command takes, wherever they appear before `--`: `--url URL`,
// `--api-key KEY` (both beat FORGE_URL / FORGE_API_KEY and the profile),
// `--context NAME` (a named context of the profile file) and `-o json|yaml|table`.
// They are taken out before the command's own parser sees its arguments.
// `forge login` keeps --url and --api-key: they are its own.

import type { CliDeps } from './deps.ts';

export type OutputFormat = 'table' | 'json' | 'yaml';

export interface Globals {
  args: string[];
  env: Record<string, string>;
  output?: OutputFormat;
}

const ENV_OF: Record<string, string> = { '--url': 'FORGE_URL', '--api-key': 'FORGE_API_KEY', '--context': 'FORGE_CONTEXT' };
const FORMATS: readonly string[] = ['table', 'json', 'yaml'];

export const GLOBAL_HELP = 'global options: --url URL[,URL…] (several replicas: tried in order), --api-key KEY (prefer FORGE_API_KEY: argv is visible in ps), --context NAME, -o json|yaml|table';

export function extractGlobals(command: string, args: readonly string[]): Globals | string {
  const out: Globals = { args: [], env: {} };
  const own = command === 'login' ? new Set(['--url', '--api-key']) : new Set<string>();
  for (let i = 0; i < args.length; i += 1) {
    const arg = args[i]!;
    if (arg === '--') {
      out.args.push(...args.slice(i));
      break;
    }
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    const isOutput = flag === '-o' || flag === '--output';
    if (!isOutput && (!(flag in ENV_OF) || own.has(flag))) {
      out.args.push(arg);
      continue;
    }
    const value = eq > 0 ? arg.slice(eq + 1) : args[(i += 1)];
    if (value === undefined || value === '') return `forge ${command}: ${flag} needs a value`;
    if (isOutput) {
      if (!FORMATS.includes(value)) return `forge ${command}: -o must be json, yaml or table, got ${JSON.stringify(value)}`;
      out.output = value as OutputFormat;
    } else out.env[ENV_OF[flag]!] = value;
  }
  return out;
}

/** `--json` where the command's own flags end (before any `--`). */
export function withJsonFlag(args: readonly string[]): string[] {
  const end = args.indexOf('--');
  return end < 0 ? [...args, '--json'] : [...args.slice(0, end), '--json', ...args.slice(end)];
}

/** JSON the command printed → YAML: one document, or one per line for line-delimited output (events -f). */
export async function jsonToYaml(text: string): Promise<string> {
  if (text.trim() === '') return text;
  const { stringify } = await import('yaml');
  try {
    return stringify(JSON.parse(text));
  } catch {
    return text.split('\n').filter((l) => l.trim() !== '').map((line) => {
      try {
        return `---\n${stringify(JSON.parse(line))}`;
      } catch {
        return `${line}\n`;
      }
    }).join('');
  }
}

/** The deps a command runs with: env overrides applied, and stdout buffered when it is to be converted. */
export function depsWithGlobals(deps: CliDeps, globals: Globals, buffer: string[] | undefined): CliDeps {
  const env = { ...deps.env, ...globals.env };
  if (!buffer) return { ...deps, env };
  const { print: _stream, ...rest } = deps;
  return { ...rest, env, print: (text) => void buffer.push(text) };
}
