// `runCli(argv, deps)`: the whole CLI as a function from arguments to a result.
// Only bin/forge touches process.argv, stdout and the exit code.

import { toForgeError } from '../specs/errors.ts';
import type { CliDeps } from './deps.ts';
import { exitCodeFor, success, usageFailure, type CliResult } from './output.ts';
import { validateCommand } from './validate.ts';
import { keysCommand } from './keys.ts';
import { serverCommand } from './server.ts';

export type { CliDeps } from './deps.ts';
export type { CliResult } from './output.ts';

interface Command {
  summary: string;
  run(args: readonly string[], deps: CliDeps): Promise<CliResult>;
}

const COMMANDS: Record<string, Command> = {
  validate: { summary: 'validate [--json] PATH…   check service specs', run: validateCommand },
  keys: { summary: 'keys create|list|revoke|rotate-encryption   manage API keys and the encryption key (on the data dir)', run: keysCommand },
  server: { summary: 'server [--addr A] [--data-dir D]   run the control plane', run: serverCommand },
};

export const USAGE = 'usage: forge <command> [options]';

function helpText(): string {
  const lines = Object.values(COMMANDS).map((command) => `  ${command.summary}`);
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
    return { exitCode: exitCodeFor(error), stdout: '', stderr: `forge ${name}: ${error.code}: ${error.message}\n` };
  }
}
