// The per-service commands: list, get, start, stop, delete, events, rollback.
// Each is one or two API calls; --json prints the API's JSON as it came.

import type { ServiceJson } from '../api/service-json.ts';
import type { DeletedSnapshot } from '../api/service-writes.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import type { EventRow } from '../store/types.ts';
import { intFlag, parseArgs, type ParsedArgs } from './args.ts';
import { servicePath, withClient } from './client.ts';
import type { CliDeps } from './deps.ts';
import { HELP } from './help.ts';
import { eventText, painter, serviceDetails, servicesTable, useColour } from './format.ts';
import { EXIT, commandIO, plural, success, toJsonText, usageFailure, type CliResult } from './output.ts';
import { timeoutMs, waitAndReport, waitThenFinish } from './wait.ts';

export const LIST_USAGE = HELP.list!.usage;
export const GET_USAGE = HELP.get!.usage;
export const START_USAGE = HELP.start!.usage;
export const STOP_USAGE = HELP.stop!.usage;
export const DELETE_USAGE = HELP.delete!.usage;
export const EVENTS_USAGE = HELP.events!.usage;
export const ROLLBACK_USAGE = HELP.rollback!.usage;

/** Parses `NAME [flags]`; a string is the finished usage failure's reason. */
export function oneName(command: string, args: readonly string[], spec: Parameters<typeof parseArgs>[2]): { name: string; parsed: ParsedArgs } | string {
  const parsed = parseArgs(command, args, { ...spec, booleans: [...(spec.booleans ?? []), '--json'] });
  if (typeof parsed === 'string') return parsed;
  const [name, extra] = parsed.positional;
  if (name === undefined || extra !== undefined) return `forge ${command}: give exactly one service NAME`;
  return { name, parsed };
}

export async function listCommand(args: readonly string[], deps: CliDeps): Promise<CliResult> {
  const parsed = parseArgs('list', args, { booleans: ['--json'] });
  if (typeof parsed === 'string') return usageFailure(parsed, LIST_USAGE);
  if (parsed.positional.length > 0) return usageFailure(`forge list: unexpected argument \`${parsed.positional[0]}\``, LIST_USAGE);
  const body = await withClient(deps, (client) => client.call<ServiceJson[]>('GET', '/api/compute/services'));
  if (parsed.booleans.has('--json')) return success(toJsonText(body));
  if (body.length === 0) return success('no services (create one with forge deploy or forge apply)\n');
  return success(servicesTable(body, painter(useColour(deps))));
}

export async function getCommand(args: readonly string[], deps: CliDeps): Promise<CliResult> {
  const got = oneName('get', args, {});
  if (typeof got === 'string') return usageFailure(got, GET_USAGE);
  const service = await withClient(deps, (client) => client.call<ServiceJson>('GET', servicePath(got.name)));
  if (got.parsed.booleans.has('--json')) return success(toJsonText(service));
  return success(serviceDetails(service, painter(useColour(deps))));
}

function stateCommand(command: 'start' | 'stop', usage: string) {
  return async (args: readonly string[], deps: CliDeps): Promise<CliResult> => {
    const got = oneName(command, args, {});
    if (typeof got === 'string') return usageFailure(got, usage);
    const service = await withClient(deps, (client) => client.call<ServiceJson>('POST', servicePath(got.name, `/${command}`)));
    if (got.parsed.booleans.has('--json')) return success(toJsonText(service));
    const wanted = command === 'start' ? 'running' : 'stopped';
    // The API retries a failed service on start, as a new generation (api/service-restart.ts).
    if (command === 'start' && service.status === 'failed') {
      return success(`${service.name}: retrying the failed release as generation ${service.generation} (follow it with forge events ${service.name} -f)\n`);
    }
    return success(`${service.name}: ${command} requested (desired ${wanted}, now ${service.status})\n`);
  };
}

export const startCommand = stateCommand('start', START_USAGE);
export const stopCommand = stateCommand('stop', STOP_USAGE);

export async function deleteCommand(args: readonly string[], deps: CliDeps): Promise<CliResult> {
  const got = oneName('delete', args, { booleans: ['--yes'], aliases: { '-y': '--yes' } });
  if (typeof got === 'string') return usageFailure(got, DELETE_USAGE);
  if (!got.parsed.booleans.has('--yes')) {
    if (!deps.isTTY || !deps.confirm) {
      return usageFailure(`forge delete: refusing to delete ${got.name} without confirmation: pass --yes (no terminal to ask on)`, DELETE_USAGE);
    }
    if (!(await deps.confirm(`Delete service ${got.name} and destroy its instances?`))) {
      return { exitCode: EXIT.failed, stdout: '', stderr: `forge delete: not deleted (${got.name} is unchanged)\n` };
    }
  }
  const body = await withClient(deps, (client) => client.call<{ deleted: DeletedSnapshot }>('DELETE', servicePath(got.name)));
  if (got.parsed.booleans.has('--json')) return success(toJsonText(body));
  const { deleted } = body;
  return success(`deleting ${deleted.name} (generation ${deleted.generation}, ${plural(deleted.instances.length, 'instance')}); the control plane destroys it in the background\n`);
}

export async function eventsCommand(args: readonly string[], deps: CliDeps): Promise<CliResult> {
  const got = oneName('events', args, { values: ['--limit'], booleans: ['--follow'], aliases: { '-f': '--follow' } });
  if (typeof got === 'string') return usageFailure(got, EVENTS_USAGE);
  const limit = intFlag('events', '--limit', got.parsed.values.get('--limit'));
  if (typeof limit === 'string') return usageFailure(limit, EVENTS_USAGE);
  const query = limit === undefined ? '' : `?limit=${limit}`;
  if (got.parsed.booleans.has('--follow')) return followEvents(got.name, query, got.parsed.booleans.has('--json'), deps);
  const body = await withClient(deps, (client) => client.call<EventRow[]>('GET', servicePath(got.name, `/events${query}`)));
  if (got.parsed.booleans.has('--json')) return success(toJsonText(body));
  if (body.length === 0) return success(`no events for ${got.name}\n`);
  return success(body.map((e) => `${eventText(e)}\n`).join(''));
}

/**
 * `events -f`: what there is, then each new event as it is written (polling with
 * `after`, like `kubectl get events -w`), until Ctrl-C. --json prints one event per line.
 */
async function followEvents(name: string, query: string, json: boolean, deps: CliDeps): Promise<CliResult> {
  const io = commandIO(deps);
  const show = (e: EventRow) => io.out(json ? `${JSON.stringify(e)}\n` : `${eventText(e)}\n`);
  await withClient(deps, async (client) => {
    let last = 0;
    let path = servicePath(name, `/events${query}`);
    while (!deps.signal?.aborted) {
      const events = await client.call<EventRow[]>('GET', path);
      for (const e of events) {
        show(e);
        last = Math.max(last, e.id);
      }
      path = servicePath(name, `/events?after=${last}`);
      await sleep(deps.pollMs ?? FOLLOW_POLL_MS, undefined, deps.signal ? { signal: deps.signal } : {}).catch(() => undefined);
    }
  });
  return io.finish(EXIT.ok);
}

const FOLLOW_POLL_MS = 1_000;

export interface RollbackReply {
  name: string;
  toGeneration: number;
  generation: number;
  service: ServiceJson;
}

export async function rollbackCommand(args: readonly string[], deps: CliDeps): Promise<CliResult> {
  const got = oneName('rollback', args, { values: ['--to', '--timeout'], booleans: ['--no-wait'] });
  if (typeof got === 'string') return usageFailure(got, ROLLBACK_USAGE);
  const to = intFlag('rollback', '--to', got.parsed.values.get('--to'));
  if (typeof to === 'string') return usageFailure(to, ROLLBACK_USAGE);
  const timeout = timeoutMs(got.parsed.values.get('--timeout'));
  if (timeout === undefined) return usageFailure(`forge rollback: --timeout must be a duration such as 90s or 5m, got ${JSON.stringify(got.parsed.values.get('--timeout'))}`, ROLLBACK_USAGE);
  const json = got.parsed.booleans.has('--json');
  const io = commandIO(deps);
  const reply = await withClient(deps, (client) =>
    client.call<RollbackReply>('POST', servicePath(got.name, '/rollback'), to === undefined ? {} : { to }));
  io.out(json ? toJsonText(reply) : `${reply.name}: rolling back to release ${reply.toGeneration} as generation ${reply.generation}\n`);
  if (got.parsed.booleans.has('--no-wait')) return io.finish(EXIT.ok);
  return waitThenFinish('rollback', io, () => withClient(deps, (client) =>
    waitAndReport(client, [{ name: reply.name, expect: 'settled' }], deps, io, { timeoutMs: timeout, json })));
}
