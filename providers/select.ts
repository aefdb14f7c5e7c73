// Which compute providers this control plane offers, decided once at start from
// the environment and reported by `forge server` and GET /api/compute/config:
//
//   FLY_API_TOKEN set                      → fly (FLY_ORG, the org slug, is then required)
//   else PROJECT_ID (not `local`) + CLOUD_API_HOST → cloud (key from CLOUD_API_KEY;
//                                            CLOUD_PROVIDER names the remote's provider, else it picks)
//   agents                                 → always
//
// A service asking for a provider that is not configured gets
// E_COMPUTE_NOT_CONFIGURED (503 from the API, `failed` from the loop).
// selectProviders is pure; createConfiguredProviders builds the fly/cloud
// providers (the agent provider is the caller's: it needs the store).

import { createHash } from 'node:crypto';
import type { Dispatcher } from 'undici';
import { ForgeError } from '../errors/index.ts';
import type { Provider, ProviderCapabilities } from './types.ts';
import type { ProviderName, ServiceSpec } from '../specs/types.ts';
import { createFlyClient, DEFAULT_FLY_API_HOSTNAME } from './fly/client.ts';
import { createFlyProvider } from './fly/provider.ts';
import { createCloudClient } from './cloud/client.ts';
import { createCloudProvider } from './cloud/provider.ts';

export type Env = Readonly<Record<string, string | undefined>>;

export interface ProviderAvailability {
  configured: boolean;
  /** Why, in words an operator can act on. Never holds a secret value. */
  reason: string;
}

export interface ProviderSelection {
  fly: ProviderAvailability;
  cloud: ProviderAvailability;
  agent: { configured: true; reason: string };
}

const set = (env: Env, name: string): string | undefined => {
  const value = env[name]?.trim();
  return value ? value : undefined;
};

export function selectProviders(env: Env): ProviderSelection {
  const agent = { configured: true as const, reason: 'always available: worker agents register with this control plane' };
  if (set(env, 'FLY_API_TOKEN')) {
    const org = set(env, 'FLY_ORG');
    if (!org) {
      throw new ForgeError('E_USAGE', 'FLY_API_TOKEN is set but FLY_ORG is not: set FLY_ORG to the slug of the Fly organization Forge deploys into (see `fly orgs list`)', {
        details: { missing: 'FLY_ORG' },
      });
    }
    return {
      fly: { configured: true, reason: `FLY_API_TOKEN is set; deploying into Fly org ${org}` },
      cloud: { configured: false, reason: 'not used: FLY_API_TOKEN is set, so cloud compute runs on Fly' },
      agent,
    };
  }
  const fly = { configured: false, reason: 'FLY_API_TOKEN is not set' };
  const project = set(env, 'PROJECT_ID');
  const host = set(env, 'CLOUD_API_HOST');
  if (!project || project === 'local') {
    return { fly, cloud: { configured: false, reason: project ? 'PROJECT_ID is `local`: no remote project to deploy into' : 'PROJECT_ID is not set' }, agent };
  }
  if (!host) return { fly, cloud: { configured: false, reason: 'CLOUD_API_HOST is not set' }, agent };
  return { fly, cloud: { configured: true, reason: `PROJECT_ID ${project} on ${host}` }, agent };
}

/**
 * The suffix of Fly app names (`<service>-<projectId>`). Fly app names are global
 * across all of Fly, so it must be unique to this installation and never change:
 * PROJECT_ID when set (and not `local`), else `f` + 8 hex of a hash of the org
 * slug, stable for as long as the org is.
 */
export function flyProjectId(env: Env): string {
  const project = set(env, 'PROJECT_ID');
  if (project && project !== 'local') return project.toLowerCase();
  const org = set(env, 'FLY_ORG') ?? '';
  return `f${createHash('sha256').update(`forge:${org}`).digest('hex').slice(0, 8)}`;
}

export interface ProviderDeps {
  /**
   * This control plane's id: written on everything the Fly and cloud providers
   * create, and the only proof they accept that a remote object is theirs.
   */
  controlPlaneId: string;
  /** Where the providers report remote objects they leave alone (not theirs). */
  report?: (message: string) => void;
  now?: () => number;
  /** Transport override (tests point both at fakes through their URLs instead). */
  flyDispatcher?: Dispatcher;
  cloudDispatcher?: Dispatcher;
}

/** The fly and cloud providers the selection allows, ready to use. */
export function createConfiguredProviders(selection: ProviderSelection, env: Env, deps: ProviderDeps): Provider[] {
  const out: Provider[] = [];
  const now = deps.now ? { now: deps.now } : {};
  const ownership = { controlPlaneId: deps.controlPlaneId, ...(deps.report ? { report: deps.report } : {}) };
  if (selection.fly.configured) {
    const org = set(env, 'FLY_ORG')!;
    const client = createFlyClient({
      token: set(env, 'FLY_API_TOKEN')!,
      org,
      baseUrl: set(env, 'FLY_API_HOSTNAME') ?? DEFAULT_FLY_API_HOSTNAME,
      ...(deps.flyDispatcher ? { dispatcher: deps.flyDispatcher } : {}),
      ...now,
    });
    const provider = createFlyProvider({ client, org, projectId: flyProjectId(env), ...ownership, ...now });
    out.push(Object.assign(provider, { close: () => client.close() }));
  }
  if (selection.cloud.configured) {
    const apiKey = set(env, 'CLOUD_API_KEY');
    const client = createCloudClient({
      host: set(env, 'CLOUD_API_HOST')!,
      projectId: set(env, 'PROJECT_ID')!,
      ...(apiKey ? { apiKey } : {}),
      ...(deps.cloudDispatcher ? { dispatcher: deps.cloudDispatcher } : {}),
    });
    const remoteProvider = set(env, 'CLOUD_PROVIDER');
    out.push(createCloudProvider({ client, ...ownership, ...(remoteProvider ? { remoteProvider } : {}), ...now }));
  }
  return out;
}

/** What a provider says it can run, as GET /api/compute/config shows it. */
export interface ProviderRuns {
  images: boolean;
  source: boolean;
  /** It builds a Dockerfile folder remotely with a deploy token (`forge deploy DIR`'s Fly path); shown only when true. */
  remoteBuilds?: boolean;
}

export function runsOf(capabilities: ProviderCapabilities): ProviderRuns {
  return {
    images: capabilities.runsImages === true, source: capabilities.runsSource === true,
    ...(capabilities.remoteBuilds === true ? { remoteBuilds: true } : {}),
  };
}

export interface ProviderOffer {
  configured: boolean;
  reason?: string;
  /** Undeclared (an embedder's provider config): the provider is trusted to run what it is given. */
  runs?: ProviderRuns;
}

/** What a spec needs from its provider: a source spec is built and run from a folder; anything else runs an image. */
export function specNeeds(spec: ServiceSpec): 'images' | 'source' {
  return spec.run !== undefined ? 'source' : 'images';
}

const NEEDS_WORDS: Record<'images' | 'source', string> = {
  images: 'images (image mode)',
  source: 'source-mode services (build.commands + run.command)',
};

const canRun = (offer: ProviderOffer | undefined, need: 'images' | 'source') => offer?.configured === true && (offer.runs === undefined || offer.runs[need]);

/**
 * The provider for a spec. `named` is the provider the writer asked for (or the one
 * an existing service already has): it must be configured (503) and able to run
 * the spec (400). With none named, the first configured provider, in the order
 * agent, fly, cloud, whose capabilities cover the spec; none → 503. Pure.
 */
export function chooseProvider(spec: ServiceSpec, named: ProviderName | undefined, offers: Readonly<Record<ProviderName, ProviderOffer>>): ProviderName {
  const need = specNeeds(spec);
  if (named !== undefined) {
    const offer = offers[named];
    if (!offer?.configured) {
      const why = offer?.reason ? `: ${offer.reason}` : '';
      throw new ForgeError('E_COMPUTE_NOT_CONFIGURED', `provider ${named} is not configured on this control plane${why}`);
    }
    if (!canRun(offer, need)) {
      throw new ForgeError('E_SPEC_INVALID', `service ${spec.name}: provider ${named} does not run ${NEEDS_WORDS[need]}; name a provider that does (GET /api/compute/config lists what each runs), or leave provider out of a new service to let Forge choose`, {
        details: [{ path: 'provider', message: `${named} does not run ${need === 'images' ? 'images' : 'source-mode services'}` }],
      });
    }
    return named;
  }
  const order: ProviderName[] = ['agent', 'fly', 'cloud'];
  const chosen = order.find((name) => canRun(offers[name], need));
  if (chosen) return chosen;
  const unavailable = order.filter((name) => !offers[name]?.configured).map((name) => `${name}: ${offers[name]?.reason ?? 'not configured'}`);
  throw new ForgeError('E_COMPUTE_NOT_CONFIGURED',
    `service ${spec.name}: no configured provider runs ${NEEDS_WORDS[need]}` +
    (need === 'images' ? '; agents build and run source folders, images need Fly (FLY_API_TOKEN + FLY_ORG) or a cloud project (PROJECT_ID + CLOUD_API_HOST)' : '') +
    (unavailable.length > 0 ? ` (${unavailable.join('; ')})` : ''));
}
