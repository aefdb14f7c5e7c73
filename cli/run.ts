// `forge run NAME [--detach] [--timeout 1h] -- CMD [ARG…]`: a one-off process in a fresh
// sandbox with the service's current release and environment (POST …/:id/run). Its output
// streams to the terminal (build lines to stderr, the command's own to stdout) and its exit
// code becomes forge's. --detach returns once it started; its output stays in the log store.

import { parseArgs } from './args.ts';
import { servicePath, withClient } from './client.ts';
import type { CliDeps } from './deps.ts';
import { HELP } from './help.ts';
import { EXIT, commandIO, toJsonText, usageFailure, type CliResult } from './output.ts';

export const RUN_USAGE = HELP.run!.usage;
const BUILD_MARK = '[build] ';

interface RunLine { line?: string; runId?: string; exitCode?: number | null; timedOut?: boolean; error?: string; message?: string }

export async function runCommand(args: readonly string[], deps: CliDeps): Promise<CliResult> {
  const parsed = parseArgs('run', args, { booleans: ['--detach', '--json'], values: ['--timeout'], aliases: { '-d': '--detach' } });
  if (typeof parsed === 'string') return usageFailure(parsed, RUN_USAGE);
  const [name, ...command] = parsed.positional;
  if (name === undefined || command.length === 0) return usageFailure('forge run: give a service NAME and the command after --', RUN_USAGE);
  const timeout = parsed.values.get('--timeout');
  if (timeout !== undefined && !/^[0-9]+(ms|s|m|h)$/.test(timeout)) {
    return usageFailure(`forge run: --timeout must be a duration such as 90s, 10m or 2h, got ${JSON.stringify(timeout)}`, RUN_USAGE);
  }
  const body = { command, ...(parsed.booleans.has('--detach') ? { detach: true } : {}), ...(timeout ? { timeout } : {}) };
  const io = commandIO(deps);
  const path = servicePath(name, '/run');
  if (body.detach) {
    const started = await withClient(deps, (client) => client.call<{ runId: string; state: string }>('POST', path, body));
    if (parsed.booleans.has('--json')) io.out(toJsonText(started));
    else io.out(`${name}: ${started.runId} ${started.state}; its output: forge logs ${name} --instance ${started.runId}\n`);
    return io.finish(EXIT.ok);
  }
  let last: RunLine | undefined;
  await withClient(deps, async (client) => {
    for await (const value of client.lines('POST', path, body, deps.signal)) {
      const item = value as RunLine;
      if (typeof item.line === 'string') {
        if (item.line.startsWith(BUILD_MARK)) io.err(`${item.line}\n`);
        else io.out(`${item.line}\n`);
      } else last = item;
    }
  });
  if (!last) {
    io.err(`forge run: the stream ended before ${name}'s command did (interrupted)\n`);
    return io.finish(EXIT.failed);
  }
  if (typeof last.exitCode === 'number') return io.finish(last.exitCode);
  io.err(`forge run: ${last.error ? `${last.error}: ` : ''}${last.timedOut ? 'timed out: ' : ''}${last.message ?? 'the command did not run to an exit'}\n`);
  return io.finish(EXIT.failed);
}
