// `runCli(argv, deps)`: the whole CLI as a function from arguments to a result.
// Only bin/forge touches process.argv, stdout and the exit code.

import { toForgeError } from '../errors/index.ts';
import type { CliDeps } from './deps.ts';
import { errorLine, exitCodeFor, success, usageFailure, type CliResult } from './output.ts';
import { validateCommand } from './validate.ts';
import { keysCommand } from './keys.ts';
import { serverCommand } from './server.ts';
import { applyCommand, diffCommand } from './apply.ts';
import { deployCommand, updateCommand } from './deploy.ts';
import { deleteCommand, eventsCommand, getCommand, listCommand, rollbackCommand, startCommand, stopCommand } from './services.ts';
import { logsCommand } from './logs.ts';
import { secretsCommand } from './secrets.ts';
import { loginCommand } from './login.ts';
import { agentCommand } from './agent.ts';
import { agentsCommand } from './agents.ts';
import { devCommand } from './dev.ts';

export type { CliDeps } from './deps.ts';
export type { CliResult } from './output.ts';

interface Command {
  summary: string;
  run(args: readonly string[], deps: CliDeps): Promise<CliResult>;
}

const COMMANDS: Record<string, Command> = {
  apply: { summary: 'apply -f PATH… [--prune] [--dry-run] [--no-wait]   apply spec files and wait until they run', run: applyCommand },
  diff: { summary: 'diff -f PATH…   show what apply would change (exit 1 when something would)', run: diffCommand },
  deploy: { summary: 'deploy [DIR] --name N [--image URL] …   create or update a service', run: deployCommand },
  update: { summary: 'update NAME [--image URL] [--env-set K=V] …   change a service', run: updateCommand },
  list: { summary: 'list   services with status, provider, replicas and URL', run: listCommand },
  get: { summary: 'get NAME   one service in detail', run: getCommand },
  start: { summary: 'start NAME   run a stopped service again', run: startCommand },
  stop: { summary: 'stop NAME   stop a service (its URL and config are kept)', run: stopCommand },
  delete: { summary: 'delete NAME [--yes]   destroy a service', run: deleteCommand },
  events: { summary: 'events NAME   what happened to a service', run: eventsCommand },
  logs: { summary: 'logs NAME [-f]   a service\'s logs (-f follows)', run: logsCommand },
  rollback: { summary: 'rollback NAME [--to N]   make an earlier release desired again', run: rollbackCommand },
  secrets: { summary: 'secrets set|unset|list NAME …   a service\'s env vars (values never shown)', run: secretsCommand },
  login: { summary: 'login [--url U] [--api-key K]   save where and how to reach Forge', run: loginCommand },
  validate: { summary: 'validate [--json] PATH…   check service specs', run: validateCommand },
  keys: { summary: 'keys create|list|revoke|rotate-encryption   manage API keys and the encryption key (on the data dir)', run: keysCommand },
  server: { summary: 'server [--addr A] [--data-dir D] [--no-local-agent] [--router managed|external|off]   run the control plane', run: serverCommand },
  dev: { summary: 'dev [PATH] [--addr A] [--debounce MS] [--no-router]   run everything locally and redeploy on save', run: devCommand },
  agents: { summary: 'agents [list] | revoke ID   worker agents, and revoking one', run: agentsCommand },
  agent: { summary: 'agent --server URL --token T [--data-dir D] [--port-range A-B] [--metrics-port P]   run a worker agent', run: agentCommand },
};

export const USAGE = 'usage: forge <command> [options]';

function helpText(): string {
  // Summaries are "usage   what it does": the descriptions line up in a second column.
  const parts = Object.values(COMMANDS).map((command) => {
    const at = command.summary.indexOf('   ');
    return at < 0 ? [command.summary, ''] : [command.summary.slice(0, at), command.summary.slice(at).trim()];
  });
  const width = Math.max(...parts.map(([usage]) => usage!.length));
  const lines = parts.map(([usage, what]) => `  ${usage!.padEnd(width)}  ${what}`.trimEnd());
  return `${USAGE}\n\ncommands:\n${lines.join('\n')}\n\nRun \`forge <command> --help\` for a command's options.\n`;
}

export async function runCli(argv: readonly string[], deps: CliDeps): Promise<CliResult> {
  const [name, ...args] = argv;
  if (name === undefined) return usageFailure('forge: no command given', USAGE);
  if (name === 'help' || name === '--help' || name === '-h') return success(helpText());
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (command === undefined) return usageFailure(`forge: unknown command \`${name}\``, `${USAGE} (commands: ${Object.keys(COMMANDS).join(', ')})`);
  try {
    return await command.run(args, deps);
  } catch (thrown) {
    const error = toForgeError(thrown);
    return { exitCode: exitCodeFor(error), stdout: '', stderr: errorLine(name, error) };
  }
}
