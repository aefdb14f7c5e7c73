// `runCli(argv, deps)`: the whole CLI as a function from arguments to a result.
// Only bin/forge touches process.argv, stdout and the exit code. Commands load
// on demand, so `forge --version` and help load none of them (start-up time).

import { toForgeError } from '../errors/index.ts';
import { closest, wantsHelp } from './args.ts';
import type { CliDeps } from './deps.ts';
import { HELP, USAGE, commandHelp, generalHelp } from './help.ts';
import { errorLine, exitCodeFor, success, usageFailure, type CliResult } from './output.ts';
import { forgeVersion } from './version.ts';
import { depsWithGlobals, extractGlobals, jsonToYaml, withJsonFlag } from './globals.ts';

export type { CliDeps } from './deps.ts';
export type { CliResult } from './output.ts';
export { USAGE } from './help.ts';

type Run = (args: readonly string[], deps: CliDeps) => Promise<CliResult>;

const COMMANDS: Record<string, () => Promise<Run>> = {
  apply: async () => (await import('./apply.ts')).applyCommand,
  diff: async () => (await import('./apply.ts')).diffCommand,
  deploy: async () => (await import('./deploy.ts')).deployCommand,
  update: async () => (await import('./deploy.ts')).updateCommand,
  list: async () => (await import('./services.ts')).listCommand,
  get: async () => (await import('./services.ts')).getCommand,
  start: async () => (await import('./services.ts')).startCommand,
  stop: async () => (await import('./services.ts')).stopCommand,
  restart: async () => (await import('./restart.ts')).restartCommand,
  run: async () => (await import('./run.ts')).runCommand,
  jobs: async () => (await import('./jobs.ts')).jobsCommand,
  scale: async () => (await import('./fleet.ts')).scaleCommand,
  releases: async () => (await import('./fleet.ts')).releasesCommand,
  status: async () => (await import('./fleet.ts')).statusCommand,
  agents: async () => (await import('./agents.ts')).agentsCommand,
  registry: async () => (await import('./registry.ts')).registryCommand,
  delete: async () => (await import('./services.ts')).deleteCommand,
  events: async () => (await import('./services.ts')).eventsCommand,
  logs: async () => (await import('./logs.ts')).logsCommand,
  rollback: async () => (await import('./services.ts')).rollbackCommand,
  secrets: async () => (await import('./secrets.ts')).secretsCommand,
  login: async () => (await import('./login.ts')).loginCommand,
  validate: async () => (await import('./validate.ts')).validateCommand,
  keys: async () => (await import('./keys.ts')).keysCommand,
  store: async () => (await import('./store.ts')).storeCommand,
  init: async () => (await import('./init.ts')).initCommand,
  completion: async () => (await import('./completion.ts')).completionCommand,
  context: async () => (await import('./context.ts')).contextCommand,
  server: async () => (await import('./server.ts')).serverCommand,
  dev: async () => (await import('./dev.ts')).devCommand,
  agent: async () => (await import('./agent.ts')).agentCommand,
};

/** Every command name, in help order. */
export function commandNames(): string[] {
  return Object.keys(HELP).filter((name) => Object.hasOwn(COMMANDS, name));
}

function unknownCommand(name: string): CliResult {
  const guess = closest(name, commandNames());
  return usageFailure(`forge: unknown command \`${name}\`${guess ? ` (did you mean ${guess}?)` : ''}`, `${USAGE} (commands: ${commandNames().join(', ')})`);
}

/** Global options may also come before the command: `forge --context prod list`. */
function splitCommand(argv: readonly string[]): [string | undefined, string[]] {
  const leading: string[] = [];
  let i = 0;
  while (i < argv.length && /^(--url|--api-key|--context|-o|--output)(=|$)/.test(argv[i]!)) {
    leading.push(argv[i]!);
    if (!argv[i]!.includes('=')) leading.push(argv[i + 1] ?? '');
    i += argv[i]!.includes('=') ? 1 : 2;
  }
  const rest = argv.slice(i + 1);
  const end = rest.indexOf('--');
  const globals = leading.filter((a) => a !== '');
  // Before any `--`: what follows it is the command's, never an option.
  return [argv[i], end < 0 ? [...rest, ...globals] : [...rest.slice(0, end), ...globals, ...rest.slice(end)]];
}

export async function runCli(argv: readonly string[], deps: CliDeps): Promise<CliResult> {
  const [name, rawArgs] = splitCommand(argv);
  if (name === undefined || name === '--help' || name === '-h') return success(generalHelp(forgeVersion()));
  if (name === '--version' || name === 'version') return success(`forge ${forgeVersion()}\n`);
  if (name === 'help') {
    const [topic, extra] = rawArgs;
    if (topic === undefined) return success(generalHelp(forgeVersion()));
    if (extra !== undefined) return usageFailure(`forge help: give one command (got \`${extra}\` too)`, 'usage: forge help [COMMAND]');
    return Object.hasOwn(COMMANDS, topic) ? success(commandHelp(topic)) : unknownCommand(topic);
  }
  if (name.startsWith('-')) return usageFailure(`forge: unknown flag \`${name}\` before the command`, USAGE);
  const load = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (load === undefined) return unknownCommand(name);
  if (wantsHelp(rawArgs)) return success(commandHelp(name));
  const globals = extractGlobals(name, rawArgs);
  if (typeof globals === 'string') return usageFailure(globals, HELP[name]!.usage);
  const format = globals.output ?? 'table';
  const hasJson = (HELP[name]!.options ?? []).some(([flag]) => flag === '--json');
  if (format !== 'table' && !hasJson) return usageFailure(`forge ${name}: -o ${format} is not available for this command`, HELP[name]!.usage);
  const args = format === 'table' ? globals.args : withJsonFlag(globals.args);
  const buffer = format === 'yaml' ? [] as string[] : undefined;
  try {
    const run = await load();
    const result = await run(args, depsWithGlobals(deps, globals, buffer));
    return buffer ? { ...result, stdout: await jsonToYaml(buffer.join('') + result.stdout) } : result;
  } catch (thrown) {
    const error = toForgeError(thrown);
    return { exitCode: exitCodeFor(error), stdout: '', stderr: errorLine(name, error) };
  }
}
