// `forge deploy [DIR] --name N …` (upsert by name) and `forge update NAME …`
// (patch). An image deploy is one request. A DIR without --image is a source
// deploy: a folder with a source-mode spec (forge.yaml: build + run) ships as a
// bundle, like `forge apply` (deploy-bundle.ts); any other folder goes to a
// provider whose capabilities include remote builds: the API prepares the app and
// a deploy token, flyctl builds remotely, and the image it pushed is PATCHed in.

import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { ServiceJson } from '../api/service-json.ts';
import type { ServiceBody } from '../api/service-spec.ts';
import type { DeployToken } from '../providers/fly/provider.ts';
import { defaultImageLabel, runFlyctlBuild } from '../providers/fly/source-deploy.ts';
import { ForgeError, isForgeError } from '../errors/index.ts';
import { intFlag, parseArgs, type ParsedArgs } from './args.ts';
import { servicePath, withClient, withProviderHint, type ForgeClient } from './client.ts';
import type { CliDeps } from './deps.ts';
import { bundledDeploy, sourceSpecIn } from './deploy-bundle.ts';
import type { ProvidersConfig } from '../api/context.ts';
import { ENV_FLAGS, envBody } from './env-flags.ts';
import { HELP } from './help.ts';
import { commandIO, success, toJsonText, usageFailure, type CliResult, type CommandIO } from './output.ts';
import { timeoutMs, waitAndReport, waitThenFinish } from './wait.ts';

export const DEPLOY_USAGE = HELP.deploy!.usage;
export const UPDATE_USAGE = HELP.update!.usage;

const PROVIDERS = ['agent', 'fly', 'cloud'] as const;

function flagSpec(withName: boolean) {
  return {
    booleans: ['--json', '--no-wait'],
    values: [...(withName ? ['--name'] : []), '--image', '--port', '--cpu', '--memory', '--region', '--replicas', '--provider', '--timeout', ...ENV_FLAGS.values],
    repeated: ENV_FLAGS.repeated,
  };
}

/** The body fields the flags give (name excluded), or the usage mistake. */
export function fieldsBody(command: string, parsed: ParsedArgs, cwd: string): ServiceBody | string {
  const body: ServiceBody = {};
  const port = intFlag(command, '--port', parsed.values.get('--port'));
  if (typeof port === 'string') return port;
  if (port !== undefined) body.port = port;
  const replicas = intFlag(command, '--replicas', parsed.values.get('--replicas'), 0);
  if (typeof replicas === 'string') return replicas;
  if (replicas !== undefined) body.replicas = replicas;
  const memory = parsed.values.get('--memory');
  if (memory !== undefined) body.memory = /^\d+$/.test(memory) ? Number(memory) : memory;
  for (const flag of ['--image', '--cpu', '--region'] as const) {
    const value = parsed.values.get(flag);
    if (value !== undefined) body[flag.slice(2) as 'image' | 'cpu' | 'region'] = value;
  }
  const provider = parsed.values.get('--provider');
  if (provider !== undefined) {
    if (!(PROVIDERS as readonly string[]).includes(provider)) return `forge ${command}: --provider must be one of ${PROVIDERS.join(', ')}, got ${JSON.stringify(provider)}`;
    body.provider = provider as ServiceBody['provider'];
  }
  const env = envBody(command, parsed, cwd);
  if (typeof env === 'string') return env;
  return { ...body, ...env };
}

async function findService(client: ForgeClient, name: string): Promise<ServiceJson | null> {
  try {
    const service = await client.call<ServiceJson>('GET', servicePath(name));
    // A service still being destroyed is created again (POST), not changed.
    return service.status === 'destroying' ? null : service;
  } catch (error) {
    if (isForgeError(error) && error.code === 'E_NOT_FOUND') return null;
    throw error;
  }
}

/** The accepted change. Under --json with waiting, nothing yet: the state after waiting is printed instead. */
function report(io: CommandIO, json: boolean | 'after-wait', verb: string, service: ServiceJson): void {
  if (json === 'after-wait') return;
  io.out(json ? toJsonText(service) : `${verb} ${service.name} (generation ${service.generation}, ${service.status})\n`);
}

export interface DeployPlan {
  name: string;
  body: ServiceBody;
  dir?: string;
  json: boolean;
  wait: boolean;
  timeoutMs: number;
}

/** Whether `provider` builds a folder remotely, by its capabilities (undeclared ones are trusted, as the API does). */
function buildsRemotely(config: ProvidersConfig, provider: string): boolean {
  const offer = config[provider as keyof ProvidersConfig];
  return offer?.configured === true && (offer.runs === undefined || offer.runs.remoteBuilds === true);
}

function noRemoteBuild(name: string, provider: string): ForgeError {
  return new ForgeError('E_USAGE', `${name}: provider ${provider} does not build a folder remotely; put a forge.yaml with build.commands and run.command in the folder (it ships as a bundle), or give --image`);
}

async function remoteBuildDeploy(client: ForgeClient, plan: DeployPlan & { dir: string }, named: string | undefined, deps: CliDeps, io: CommandIO): Promise<ServiceJson> {
  const { providers } = await client.call<{ providers: ProvidersConfig }>('GET', '/api/compute/config');
  // Refused before anything is written when the provider asked for cannot do it.
  if (named !== undefined && !buildsRemotely(providers, named)) throw noRemoteBuild(plan.name, named);
  const prepared = await client.call<ServiceJson & { deployToken: DeployToken }>('POST', '/api/compute/services/deploy', { name: plan.name, ...plan.body });
  const { deployToken, ...service } = prepared;
  if (!buildsRemotely(providers, service.provider) || deployToken === undefined) throw noRemoteBuild(service.name, service.provider);
  const progress = (text: string) => (plan.json ? io.err(text) : io.out(text));
  progress(`building ${plan.dir} on Fly's remote builder for ${deployToken.app}…\n`);
  const built = await runFlyctlBuild({
    dir: plan.dir, app: deployToken.app, token: deployToken.token, label: defaultImageLabel(Date.now()),
    env: deps.env as NodeJS.ProcessEnv, onOutput: progress,
    ...(deps.env.FLYCTL ? { flyctl: deps.env.FLYCTL } : {}),
    ...(deps.signal ? { signal: deps.signal } : {}),
  });
  progress(`built ${built.imageRef}\n`);
  return client.call<ServiceJson>('PATCH', servicePath(service.name), { image: built.imageRef });
}

export async function runDeploy(plan: DeployPlan, mode: 'deploy' | 'update', deps: CliDeps): Promise<CliResult> {
  const io = commandIO(deps);
  const json = plan.json && plan.wait ? 'after-wait' as const : plan.json;
  const service = await withClient(deps, async (client) => {
    const existing = await findService(client, plan.name);
    const provider = plan.body.provider ?? existing?.provider ?? 'agent';
    try {
      if (plan.dir !== undefined && plan.body.image === undefined) {
        const spec = await sourceSpecIn(plan.dir, plan.name, deps.cwd);
        const progress = (text: string) => (plan.json ? io.err(text) : io.out(text));
        const done = spec
          ? await bundledDeploy(client, { ...spec, name: plan.name }, plan.body, existing, deps, progress)
          : await remoteBuildDeploy(client, { ...plan, dir: plan.dir }, plan.body.provider ?? existing?.provider, deps, io);
        report(io, json, existing ? 'deployed' : 'created', done);
        return done;
      }
      if (existing) {
        const done = await client.call<ServiceJson>('PATCH', servicePath(existing.name), plan.body);
        report(io, json, 'updated', done);
        return done;
      }
      if (mode === 'update') throw new ForgeError('E_NOT_FOUND', `no service ${JSON.stringify(plan.name)} (see forge list; create it with forge deploy)`);
      if (plan.body.image === undefined) throw new ForgeError('E_USAGE', `${plan.name} does not exist yet: give --image URL (or a source DIR) to create it`);
      const done = await client.call<ServiceJson>('POST', '/api/compute/services', { name: plan.name, ...plan.body });
      report(io, json, 'created', done);
      return done;
    } catch (error) {
      throw withProviderHint(error, [provider]);
    }
  });
  if (!plan.wait) return io.finish(0);
  let printed = false;
  return waitThenFinish(mode, io, () => withClient(deps, async (client) => {
    try {
      return await waitAndReport(client, [{ name: service.name, expect: 'settled' }], deps, io, {
        timeoutMs: plan.timeoutMs, json: plan.json,
        // --json: the state the command ended with (running, or failed), not the snapshot before waiting.
        settled: ([last]: ServiceJson[]) => {
          printed = true;
          if (plan.json) io.out(toJsonText(last ?? service));
        },
      });
    } finally {
      // Interrupted or timed out: the last state known is the accepted one.
      if (plan.json && !printed) io.out(toJsonText(service));
    }
  }));
}

function common(command: string, parsed: ParsedArgs, deps: CliDeps): Omit<DeployPlan, 'name' | 'dir'> | string {
  const body = fieldsBody(command, parsed, deps.cwd);
  if (typeof body === 'string') return body;
  const timeout = timeoutMs(parsed.values.get('--timeout'));
  if (timeout === undefined) return `forge ${command}: --timeout must be a duration such as 90s or 5m, got ${JSON.stringify(parsed.values.get('--timeout'))}`;
  return { body, json: parsed.booleans.has('--json'), wait: !parsed.booleans.has('--no-wait'), timeoutMs: timeout };
}

export async function deployCommand(args: readonly string[], deps: CliDeps): Promise<CliResult> {
  const parsed = parseArgs('deploy', args, flagSpec(true));
  if (typeof parsed === 'string') return usageFailure(parsed, DEPLOY_USAGE);
  const name = parsed.values.get('--name');
  if (name === undefined) return usageFailure('forge deploy: --name is required', DEPLOY_USAGE);
  if (parsed.positional.length > 1) return usageFailure(`forge deploy: unexpected argument \`${parsed.positional[1]}\` (give at most one DIR)`, DEPLOY_USAGE);
  const rest = common('deploy', parsed, deps);
  if (typeof rest === 'string') return usageFailure(rest, DEPLOY_USAGE);
  const [dirArg] = parsed.positional;
  let dir: string | undefined;
  if (dirArg !== undefined) {
    dir = resolve(deps.cwd, dirArg);
    if (!existsSync(dir) || !statSync(dir).isDirectory()) return usageFailure(`forge deploy: no such directory: ${dirArg}`, DEPLOY_USAGE);
  }
  return runDeploy({ name, ...rest, ...(dir !== undefined ? { dir } : {}) }, 'deploy', deps);
}

export async function updateCommand(args: readonly string[], deps: CliDeps): Promise<CliResult> {
  const parsed = parseArgs('update', args, flagSpec(false));
  if (typeof parsed === 'string') return usageFailure(parsed, UPDATE_USAGE);
  const [name, extra] = parsed.positional;
  if (name === undefined || extra !== undefined) return usageFailure('forge update: give exactly one service NAME', UPDATE_USAGE);
  const rest = common('update', parsed, deps);
  if (typeof rest === 'string') return usageFailure(rest, UPDATE_USAGE);
  if (Object.keys(rest.body).length === 0) return usageFailure('forge update: nothing to change (give a flag such as --image or --env-set)', UPDATE_USAGE);
  return runDeploy({ name, ...rest }, 'update', deps);
}
