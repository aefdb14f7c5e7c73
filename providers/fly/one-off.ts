// One-offs on Fly (a release command, `forge run`), as Fly's own release_command does it: a
// one-shot machine of the release's image in the service's app, running the command instead
// of the image's, with `restart: no` and `auto_destroy`, no services (never routed), and its
// own labels (not the service's key: it is never taken for an instance). The result is the
// exit event's code. Its output stays in Fly's log stream (flyctl logs), not in Forge's.

import { ForgeError } from '../../errors/index.ts';
import type { OneOffContext, OneOffRequest, OneOffResult } from '../types.ts';
import type { FlyMachine, FlyMachineConfig } from './api-types.ts';
import type { FlyClient } from './client.ts';
import { META } from './config.ts';

export const ONE_OFF_META = 'forge_one_off';

export function oneOffMachineConfig(request: OneOffRequest, labels: { projectId: string; owner: string }): FlyMachineConfig {
  const { spec } = request;
  if (!spec.image) throw new ForgeError('E_SPEC_INVALID', `${request.key}: a Fly one-off needs the release's image`, { terminal: true });
  return {
    image: spec.image,
    guest: { cpu_kind: spec.resources.cpuKind, cpus: Math.max(1, Math.round(spec.resources.cpus)), memory_mb: spec.resources.memoryMb },
    env: { ...spec.env },
    init: { cmd: ['/bin/sh', '-c', request.command] },
    restart: { policy: 'no' },
    auto_destroy: true,
    metadata: { [ONE_OFF_META]: request.runId, [META.project]: labels.projectId, [META.owner]: labels.owner },
  };
}

export interface FlyOneOffDeps {
  client: FlyClient;
  app: string;
  config: FlyMachineConfig;
  region: string;
  minSecretsVersion?: number;
  now(): number;
}

/** Throws only when the machine certainly was not created (Fly refused the create). */
export async function runFlyOneOff(deps: FlyOneOffDeps, request: OneOffRequest, ctx: OneOffContext): Promise<OneOffResult> {
  const { client, app } = deps;
  const runId = request.runId;
  let machine: FlyMachine;
  try {
    machine = await client.createMachine(app, { config: deps.config, region: deps.region, ...(deps.minSecretsVersion === undefined ? {} : { min_secrets_version: deps.minSecretsVersion }) });
  } catch (err) {
    // The create may have happened after all: look for it by its label before saying it did not.
    const [found] = await client.listMachines(app, { [ONE_OFF_META]: runId }, true).catch(() => [] as FlyMachine[]);
    if (!found) throw err;
    machine = found;
  }
  ctx.onRef?.(machine.id);
  if (request.detach) return { exitCode: null, lastLines: [], message: `running as machine ${machine.id} in ${app}`, ref: machine.id };
  const deadline = deps.now() + request.timeoutMs;
  for (;;) {
    const left = deadline - deps.now();
    if (left <= 0) {
      await client.deleteMachine(app, machine.id, true).catch(() => undefined);
      return { exitCode: null, timedOut: true, lastLines: [], message: `machine ${machine.id} killed at its timeout`, ref: machine.id };
    }
    const state = await client.waitMachine(app, machine.id, 'destroyed', Math.max(1, Math.min(60, Math.ceil(left / 1000))))
      .then((r) => r.state, () => undefined);
    const [seen] = await client.listMachines(app, { [ONE_OFF_META]: runId }, true);
    const exit = seen?.events?.find((e) => e.type === 'exit');
    const code = (exit?.request?.['exit_event'] as { exit_code?: unknown } | undefined)?.exit_code;
    if (typeof code === 'number') {
      return { exitCode: code, lastLines: [], message: `machine ${machine.id} exited with code ${code} (its output: flyctl logs -a ${app})`, ref: machine.id };
    }
    if (state === 'destroyed' || seen?.state === 'destroyed' || !seen) {
      return { exitCode: null, mayHaveRun: true, lastLines: [], message: `machine ${machine.id} is gone and no exit code was recorded`, ref: machine.id };
    }
    if (ctx.signal?.aborted) {
      await client.deleteMachine(app, machine.id, true).catch(() => undefined);
      return { exitCode: null, mayHaveRun: true, lastLines: [], message: 'cancelled: nobody follows it any more', ref: machine.id };
    }
  }
}
