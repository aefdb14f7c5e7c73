// What every command returns, and the shared ways of turning outcomes into it.

import type { ForgeError } from '../errors/index.ts';

export interface CliResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Exit codes: 0 success, 1 the thing checked or done failed, 2 the command line itself was wrong. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

export function exitCodeFor(error: ForgeError): number {
  return error.code === 'E_USAGE' ? EXIT.usage : EXIT.failed;
}

export function success(stdout: string): CliResult {
  return { exitCode: EXIT.ok, stdout, stderr: '' };
}

/** A usage mistake: the reason, then the usage line that would have been right. */
export function usageFailure(reason: string, usage: string): CliResult {
  return { exitCode: EXIT.usage, stdout: '', stderr: `${reason}\n${usage}\n` };
}

export function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? '' : 's'}`;
}

export function toJsonText(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

/**
 * Where a command writes while it runs: through deps.print/printError when given (progress
 * shows at once), otherwise buffered into the result. `finish` turns it into the CliResult.
 */
export interface CommandIO {
  out(text: string): void;
  err(text: string): void;
  finish(exitCode: number): CliResult;
  /** An error as runCli would print it, keeping what was already written. */
  fail(command: string, error: ForgeError, exitCode?: number): CliResult;
}

export function commandIO(deps: { print?: (text: string) => void; printError?: (text: string) => void }): CommandIO {
  let stdout = '';
  let stderr = '';
  const io: CommandIO = {
    out(text) {
      if (deps.print) deps.print(text);
      else stdout += text;
    },
    err(text) {
      if (deps.printError) deps.printError(text);
      else stderr += text;
    },
    finish: (exitCode) => ({ exitCode, stdout, stderr }),
    fail(command, error, exitCode) {
      io.err(errorLine(command, error));
      return io.finish(exitCode ?? exitCodeFor(error));
    },
  };
  return io;
}

export function errorLine(command: string, error: ForgeError): string {
  return `forge ${command}: ${error.code}: ${error.message}\n`;
}
