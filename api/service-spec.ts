// Compute API bodies → ServiceSpecs. A body is turned into the YAML-shaped raw
// spec (merged over the existing service's, when there is one) and validated by
// specs/ like any file, so every rule applies. Env vars given through the API are
// secrets: the spec lists their names, the values go to the encrypted store.

import { ForgeError } from '../errors/index.ts';
import { specInvalidError, validateSpecObject } from '../specs/index.ts';
import type { ProviderName, ServiceSpec } from '../specs/types.ts';

export interface EnvPatch {
  set?: Record<string, string>;
  unset?: string[];
}

export interface ServiceBody {
  name?: string;
  image?: string;
  port?: number;
  cpu?: string;
  memory?: number | string;
  region?: string;
  replicas?: number;
  provider?: ProviderName;
  /** The owner (a row's `source`): set at create, and a write naming another owner is refused. */
  source?: string;
  /** The spec's autoStop (InsForge's `scaleToZero`, mapped in compat.ts). */
  autoStop?: boolean;
  envVars?: Record<string, string>;
  envVarsPatch?: EnvPatch;
}

type Raw = Record<string, unknown>;

const TIER_COUNTS = new Set([1, 2, 4, 8, 16]);

/** A normalized spec back in the YAML form validateSpecObject reads; normalizing it again gives the same spec. */
export function rawFromSpec(spec: ServiceSpec): Raw {
  const raw: Raw = {
    name: spec.name,
    provider: spec.provider,
    port: spec.port,
    memory: spec.resources.memoryMb,
    region: spec.region,
    replicas: spec.replicas,
    autoStop: spec.autoStop,
  };
  if (spec.runtime !== undefined) raw.runtime = spec.runtime;
  if (Number.isInteger(spec.resources.cpus) && TIER_COUNTS.has(spec.resources.cpus)) raw.cpu = `${spec.resources.cpuKind}-${spec.resources.cpus}x`;
  else raw.resources = { cpu: spec.resources.cpus };
  if (Object.keys(spec.env).length > 0) raw.env = { ...spec.env };
  if (spec.secrets.length > 0) raw.secrets = [...spec.secrets];
  if (spec.domains.length > 0) raw.domains = [...spec.domains];
  raw.health = spec.health.type === 'tcp'
    ? false
    : {
      path: spec.health.path, interval: `${spec.health.intervalMs}ms`, timeout: `${spec.health.timeoutMs}ms`, retries: spec.health.retries,
      ...(spec.health.graceMs === undefined ? {} : { grace: `${spec.health.graceMs}ms` }),
    };
  if (spec.image !== undefined) raw.image = spec.image;
  if (spec.build !== undefined) {
    const build: Raw = {};
    if (spec.build.commands.length > 0 || spec.build.dockerfile === undefined) build.commands = [...spec.build.commands];
    if (spec.build.dockerfile !== undefined) build.dockerfile = spec.build.dockerfile;
    raw.build = build;
  }
  if (spec.run !== undefined) raw.run = { command: spec.run.command };
  if (spec.sourceDir !== undefined) raw.source = spec.sourceDir;
  return raw;
}

/** A source-mode service created through the API waits for the image its remote build produces. */
export function awaitsImage(spec: ServiceSpec): boolean {
  return spec.image === undefined && spec.run === undefined && spec.build?.dockerfile !== undefined;
}

/** The raw spec of a brand-new source-mode service (POST …/deploy): built remotely from its Dockerfile. */
export function sourceModeBase(name: string): Raw {
  return { name, provider: 'fly', build: { dockerfile: 'Dockerfile' } };
}

/** Applies a body's fields over a raw spec. An image replaces any source-mode fields. */
export function mergeBody(base: Raw, body: ServiceBody): Raw {
  const raw: Raw = { ...base };
  if (body.image !== undefined) {
    raw.image = body.image;
    delete raw.build;
    delete raw.run;
    delete raw.source;
  }
  for (const field of ['port', 'cpu', 'memory', 'region', 'replicas', 'provider', 'autoStop'] as const) {
    if (body[field] !== undefined) raw[field] = body[field];
  }
  // A cpu tier given through the API replaces an agent CPU count: the two cannot coexist.
  if (body.cpu !== undefined && raw.resources !== undefined) {
    const { cpu: _dropped, ...rest } = raw.resources as Raw;
    if (Object.keys(rest).length === 0) delete raw.resources;
    else raw.resources = rest;
  }
  return raw;
}

/**
 * The service's complete secret values after this body, or undefined when the body leaves env
 * alone. `current` is read only when a patch needs the values it keeps.
 */
export function nextEnvValues(body: ServiceBody, current: () => Record<string, string>): Record<string, string> | undefined {
  if (body.envVars !== undefined && body.envVarsPatch !== undefined) {
    throw new ForgeError('E_BAD_REQUEST', 'give either envVars (replace all) or envVarsPatch (merge), not both', {
      details: [{ path: 'envVarsPatch', message: 'cannot be combined with envVars' }],
    });
  }
  if (body.envVars !== undefined) return { ...body.envVars };
  if (body.envVarsPatch === undefined) return undefined;
  const values = { ...current() };
  for (const name of body.envVarsPatch.unset ?? []) delete values[name];
  Object.assign(values, body.envVarsPatch.set ?? {});
  return values;
}

/** The raw spec's secret names follow the env values when they changed. */
export function withSecretNames(raw: Raw, values: Record<string, string> | undefined): Raw {
  if (values === undefined) return raw;
  const names = Object.keys(values).sort();
  const out = { ...raw };
  if (names.length > 0) out.secrets = names;
  else delete out.secrets;
  return out;
}

/** Validates with specs/ (every rule); problems become a 400 E_SPEC_INVALID with details. */
export function specFromRaw(raw: Raw): ServiceSpec {
  const result = validateSpecObject(raw, { file: '' });
  if (!result.ok) throw specInvalidError(result.problems);
  const [first] = result.specs;
  if (!first) throw new ForgeError('E_INTERNAL', 'spec validation returned nothing');
  return first.spec;
}
