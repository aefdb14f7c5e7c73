// `forge logs NAME [-f]`: the service's log lines; with -f, follows the
// server-sent event stream, printing each line as it arrives, until the stream
// ends or deps.signal aborts (Ctrl-C in bin/forge).

import { parseArgs } from './args.ts';
import { servicePath, withClient } from './client.ts';
import type { CliDeps } from './deps.ts';
import { HELP } from './help.ts';
import { EXIT, commandIO, success, usageFailure, type CliResult } from './output.ts';

export const LOGS_USAGE = HELP.logs!.usage;

export async function logsCommand(args: readonly string[], deps: CliDeps): Promise<CliResult> {
  const parsed = parseArgs('logs', args, { booleans: ['--follow'], aliases: { '-f': '--follow' } });
  if (typeof parsed === 'string') return usageFailure(parsed, LOGS_USAGE);
  const [name, extra] = parsed.positional;
  if (name === undefined || extra !== undefined) return usageFailure('forge logs: give exactly one service NAME', LOGS_USAGE);
  if (!parsed.booleans.has('--follow')) {
    return success(await withClient(deps, (client) => client.text(servicePath(name, '/logs'))));
  }
  const io = commandIO(deps);
  await withClient(deps, async (client) => {
    for await (const line of client.events(servicePath(name, '/logs?follow=true'), deps.signal)) io.out(`${line}\n`);
  });
  return io.finish(EXIT.ok);
}
