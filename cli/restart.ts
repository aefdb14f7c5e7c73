// `forge restart NAME`: the same spec rolled out again as a new generation
// (POST …/:id/restart). It retries a failed release whose cause was fixed outside
// the spec (a missing package on the host, a dependency that was down).

import type { ServiceJson } from '../api/service-json.ts';
import { servicePath, withClient } from './client.ts';
import type { CliDeps } from './deps.ts';
import { HELP } from './help.ts';
import { EXIT, commandIO, toJsonText, usageFailure, type CliResult } from './output.ts';
import { oneName } from './services.ts';
import { timeoutMs, waitAndReport, waitThenFinish } from './wait.ts';

export const RESTART_USAGE = HELP.restart!.usage;

export async function restartCommand(args: readonly string[], deps: CliDeps): Promise<CliResult> {
  const got = oneName('restart', args, { booleans: ['--no-wait'], values: ['--timeout'] });
  if (typeof got === 'string') return usageFailure(got, RESTART_USAGE);
  const timeout = timeoutMs(got.parsed.values.get('--timeout'));
  if (timeout === undefined) return usageFailure(`forge restart: --timeout must be a duration such as 90s or 5m, got ${JSON.stringify(got.parsed.values.get('--timeout'))}`, RESTART_USAGE);
  const json = got.parsed.booleans.has('--json');
  const io = commandIO(deps);
  const service = await withClient(deps, (client) => client.call<ServiceJson>('POST', servicePath(got.name, '/restart')));
  if (!json) io.out(`${service.name}: restarting as generation ${service.generation}\n`);
  if (got.parsed.booleans.has('--no-wait')) {
    if (json) io.out(toJsonText(service));
    return io.finish(EXIT.ok);
  }
  return waitThenFinish('restart', io, () => withClient(deps, (client) =>
    waitAndReport(client, [{ name: service.name, expect: 'settled' }], deps, io, {
      timeoutMs: timeout, json, ...(json ? { settled: ([last]: ServiceJson[]) => io.out(toJsonText(last ?? service)) } : {}),
    })));
}
