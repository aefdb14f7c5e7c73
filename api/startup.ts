// Start-up wiring for startControlPlane (control-plane.ts): which providers run and
// what each offers, observation through each service's own provider, where the
// encryption keys are re-read from, and the bundle size limit from the environment.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FlyProvider } from '../providers/fly/provider.ts';
import { createConfiguredProviders, runsOf, selectProviders, type ProviderDeps } from '../providers/select.ts';
import type { Observed, Provider } from '../providers/types.ts';
import { ForgeError } from '../errors/index.ts';
import { parseEncryptionKey } from '../store/cipher.ts';
import { SECRET_FILES, type Config } from './config.ts';
import type { ProvidersConfig } from './context.ts';

export type Env = Readonly<Record<string, string | undefined>>;

export interface WiredProviders {
  providers: Provider[];
  config: ProvidersConfig;
  fly?: FlyProvider;
}

/**
 * Which providers run, decided once at start (providers/select.ts): Fly with
 * FLY_API_TOKEN + FLY_ORG, else cloud with PROJECT_ID + CLOUD_API_HOST; the agent
 * provider is always there when one is given.
 */
export function wireProviders(env: Env, given: readonly Provider[], ownership: Pick<ProviderDeps, 'controlPlaneId' | 'report'>): WiredProviders {
  const selection = selectProviders(env);
  const remote = createConfiguredProviders(selection, env, ownership);
  const providers = [...given, ...remote];
  // The provider that mints deploy tokens for its per-service registries (Fly), found by that capability.
  const fly = remote.find((p): p is FlyProvider => p.capabilities.registryPerService === true && 'mintDeployToken' in p);
  const find = (name: string) => providers.find((p) => p.name === name);
  // What each one runs comes from its capabilities: a spec naming no provider goes to one that runs it.
  const runs = (name: string) => {
    const provider = find(name);
    return provider ? { runs: runsOf(provider.capabilities) } : {};
  };
  const agent = find('agent');
  const config: ProvidersConfig = {
    // Read on each use: the agent provider runs images only while an agent that can has registered.
    agent: agent ? { configured: true, ...(agent.capabilities.pinsImages === true ? { pinsImages: true } : {}), get runs() { return runsOf(agent.capabilities); } } : { configured: false, reason: 'no agent provider is running on this control plane' },
    fly: { configured: selection.fly.configured, reason: selection.fly.reason, ...runs('fly') },
    cloud: { configured: selection.cloud.configured, reason: selection.cloud.reason, ...runs('cloud') },
  };
  return { providers, config, ...(fly ? { fly } : {}) };
}

/**
 * Observed state per key from the service's own provider only. Every provider
 * answers for any key it is asked about (an empty entry when it has nothing), so
 * merging all their answers would let one that does not run the service hide the
 * instances of the one that does. A key with no row has no provider to ask.
 */
export async function observeByOwnProvider(
  keys: readonly string[], providerOf: (key: string) => string | undefined, providerFor: (name: string) => Provider | undefined,
): Promise<Observed[]> {
  const byProvider = new Map<Provider, string[]>();
  for (const key of new Set(keys)) {
    const name = providerOf(key);
    const provider = name === undefined ? undefined : providerFor(name);
    if (!provider) continue;
    byProvider.set(provider, [...(byProvider.get(provider) ?? []), key]);
  }
  const answers = await Promise.all([...byProvider].map(async ([provider, own]) => {
    const wanted = new Set(own);
    const observed = await provider.observe(own).catch(() => [] as Observed[]);
    return observed.filter((o) => wanted.has(o.key));
  }));
  return answers.flat();
}

export function keyLoader(config: Config, env: Env): () => Buffer[] {
  if (env.FORGE_ENCRYPTION_KEY?.trim()) return () => config.encryptionKeys;
  const file = join(config.dataDir, SECRET_FILES.encryptionKey);
  return () => {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      return config.encryptionKeys; // keys given another way (tests, embedders): nothing to re-read
    }
    return text.split(/\s+/).filter((s) => s !== '').map(parseEncryptionKey);
  };
}

/** FORGE_BUNDLE_LIMIT_MB: the largest source bundle an upload may be (compressed), in MiB. */
export function bundleLimitBytes(env: Env): number | undefined {
  const text = env.FORGE_BUNDLE_LIMIT_MB?.trim();
  if (!text) return undefined;
  if (!/^\d+$/.test(text) || Number(text) < 1) throw new ForgeError('E_USAGE', `FORGE_BUNDLE_LIMIT_MB must be a whole number of MiB (≥ 1), got ${JSON.stringify(text)}`);
  return Number(text) * 1024 * 1024;
}

/** FORGE_RELEASE_HISTORY: releases kept per service (rollback targets; their bundles stay with them). */
export function releaseHistory(env: Env): number | undefined {
  const text = env.FORGE_RELEASE_HISTORY?.trim();
  if (!text) return undefined;
  if (!/^\d+$/.test(text) || Number(text) < 2) throw new ForgeError('E_USAGE', `FORGE_RELEASE_HISTORY must be a whole number of releases kept per service (≥ 2), got ${JSON.stringify(text)}`);
  return Number(text);
}
