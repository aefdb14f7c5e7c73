// `forge context [list] | use NAME | current | delete NAME`: the named contexts of
// the profile file (cli/profile.ts). `forge login --context NAME` creates one;
// `--context NAME` or FORGE_CONTEXT picks one for a single command.

import { parseArgs } from './args.ts';
import type { CliDeps } from './deps.ts';
import { HELP } from './help.ts';
import { EXIT, success, toJsonText, usageFailure, type CliResult } from './output.ts';
import { contextName, readProfileFile, writeProfileFile } from './profile.ts';

export async function contextCommand(args: readonly string[], deps: CliDeps): Promise<CliResult> {
  const usage = HELP.context!.usage;
  const parsed = parseArgs('context', args, { booleans: ['--json'] });
  if (typeof parsed === 'string') return usageFailure(parsed, usage);
  const [sub = 'list', name, extra] = parsed.positional;
  if (extra !== undefined) return usageFailure(`forge context: unexpected argument \`${extra}\``, usage);
  const file = readProfileFile(deps.env);
  const selected = contextName(deps.env, file);
  const missing = (n: string): CliResult => ({ exitCode: EXIT.failed, stdout: '', stderr: `forge context: no context ${JSON.stringify(n)} (contexts: ${Object.keys(file.contexts).join(', ') || 'none; create one with forge login --context NAME'})\n` });
  switch (sub) {
    case 'list': {
      if (name !== undefined) return usageFailure(`forge context list: unexpected argument \`${name}\``, usage);
      const rows = Object.entries(file.contexts).sort(([a], [b]) => a.localeCompare(b)).map(([n, p]) => ({ name: n, url: p.url, current: n === selected }));
      if (parsed.booleans.has('--json')) return success(toJsonText({ current: selected, contexts: rows }));
      if (rows.length === 0) return success('no contexts (create one with forge login --context NAME --url URL)\n');
      return success(rows.map((r) => `${r.current ? '*' : ' '} ${r.name.padEnd(Math.max(...rows.map((x) => x.name.length)))}  ${r.url}\n`).join(''));
    }
    case 'current':
      if (name !== undefined) return usageFailure(`forge context current: unexpected argument \`${name}\``, usage);
      return file.contexts[selected] ? success(`${selected}\n`) : missing(selected);
    case 'use':
      if (name === undefined) return usageFailure('forge context use: give a context NAME', usage);
      if (!file.contexts[name]) return missing(name);
      writeProfileFile(deps.env, { ...file, current: name });
      return success(`now using context ${name} (${file.contexts[name]!.url})\n`);
    case 'delete': {
      if (name === undefined) return usageFailure('forge context delete: give a context NAME', usage);
      if (!file.contexts[name]) return missing(name);
      const { [name]: _gone, ...rest } = file.contexts;
      writeProfileFile(deps.env, { current: file.current === name ? (Object.keys(rest)[0] ?? file.current) : file.current, contexts: rest });
      return success(`deleted context ${name}\n`);
    }
    default:
      return usageFailure(`forge context: unknown subcommand \`${sub}\``, usage);
  }
}
