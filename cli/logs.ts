// `forge logs NAME [-f] [--since 10m] [--tail N] [--instance ID] [--build]`: the app's
// output (or, with --build, its latest build's) as agents shipped it; events stay in
// `forge events`. With -f, follows the server-sent event stream, printing each line as
// it arrives, until the stream ends or deps.signal aborts (Ctrl-C in bin/forge).

import { parseArgs } from './args.ts';
import { servicePath, withClient } from './client.ts';
import type { CliDeps } from './deps.ts';
import { HELP } from './help.ts';
import { EXIT, commandIO, success, usageFailure, type CliResult } from './output.ts';

export const LOGS_USAGE = HELP.logs!.usage;

/** The query string for the flags, or a usage message. Pure. */
export function logsQuery(values: ReadonlyMap<string, string>, booleans: ReadonlySet<string>): string {
  const query = new URLSearchParams();
  const tail = values.get('--tail');
  if (tail !== undefined) {
    if (!/^\d+$/.test(tail) || Number(tail) < 1 || Number(tail) > 10_000) return 'forge logs: --tail takes a number of lines from 1 to 10000';
    query.set('tail', tail);
  }
  const since = values.get('--since');
  if (since !== undefined) {
    if (!/^\d+(ms|s|m|h|d)$/.test(since) && !/^\d{4}-\d{2}-\d{2}T/.test(since)) {
      return `forge logs: --since takes a duration (10m, 2h, 1d) or an ISO time, got \`${since}\``;
    }
    query.set('since', since);
  }
  const instance = values.get('--instance');
  if (instance !== undefined) query.set('instance', instance);
  if (booleans.has('--build')) query.set('build', 'latest');
  if (booleans.has('--follow')) query.set('follow', '1');
  const text = query.toString();
  return text === '' ? '?' : `?${text}`;
}

export async function logsCommand(args: readonly string[], deps: CliDeps): Promise<CliResult> {
  const parsed = parseArgs('logs', args, {
    booleans: ['--follow', '--build'], values: ['--since', '--tail', '--instance'], aliases: { '-f': '--follow' },
  });
  if (typeof parsed === 'string') return usageFailure(parsed, LOGS_USAGE);
  const [name, extra] = parsed.positional;
  if (name === undefined || extra !== undefined) return usageFailure('forge logs: give exactly one service NAME', LOGS_USAGE);
  const query = logsQuery(parsed.values, parsed.booleans);
  if (!query.startsWith('?')) return usageFailure(query, LOGS_USAGE);
  const path = servicePath(name, `/logs${query === '?' ? '' : query}`);
  if (!parsed.booleans.has('--follow')) return success(await withClient(deps, (client) => client.text(path)));
  const io = commandIO(deps);
  await withClient(deps, async (client) => {
    for await (const line of client.events(path, deps.signal)) io.out(`${line}\n`);
  });
  return io.finish(EXIT.ok);
}
