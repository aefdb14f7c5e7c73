// `forge deploy DIR` for a folder that holds a source-mode spec (forge.yaml with
// build + run): the folder ships exactly as `forge apply` ships it (packed into a
// content-addressed bundle, uploaded once, named by digest as the revision), so
// an agent on any host builds it without reading a path on this machine. Flags
// given to deploy override the spec's fields; the service keeps its owner.

import { existsSync } from 'node:fs';
import path from 'node:path';
import { mergeBody, rawFromSpec, specFromRaw, type ServiceBody } from '../api/service-spec.ts';
import type { ServiceJson } from '../api/service-json.ts';
import type { ApplyPlan } from '../api/service-apply-set.ts';
import { shipsSource } from '../specs/bundle.ts';
import { formatProblem, loadSpecFiles } from '../specs/index.ts';
import type { ServiceSpec } from '../specs/types.ts';
import { ForgeError } from '../errors/index.ts';
import { uploadBundles } from './bundle-upload.ts';
import { servicePath, type ForgeClient } from './client.ts';
import type { CliDeps } from './deps.ts';

const SPEC_NAMES = ['forge.yaml', 'forge.yml'];

/** The source-mode spec of `dir` for service `name`, or null when the folder has none (a Dockerfile folder). */
export async function sourceSpecIn(dir: string, name: string, cwd: string): Promise<ServiceSpec | null> {
  const file = SPEC_NAMES.map((n) => path.join(dir, n)).find((f) => existsSync(f));
  if (file === undefined) return null;
  const loaded = await loadSpecFiles([file], { cwd });
  if (!loaded.ok) {
    throw new ForgeError('E_SPEC_INVALID', `${path.relative(cwd, file) || file} is not a valid spec:\n${loaded.problems.map(formatProblem).join('\n')}`);
  }
  const specs = loaded.specs.map((s) => s.spec).filter(shipsSource);
  if (specs.length === 0) return null;
  if (specs.length === 1) return specs[0]!;
  const named = specs.find((s) => s.name === name);
  if (named) return named;
  throw new ForgeError('E_USAGE', `${file} defines ${specs.length} source services (${specs.map((s) => s.name).join(', ')}) and none is named ${name}: give --name one of them, or use forge apply -f ${file}`);
}

/** The spec after the deploy flags: --name names the service, the other flags override the file's fields. */
export function specWithFlags(spec: ServiceSpec, name: string, body: ServiceBody): ServiceSpec {
  const raw = mergeBody({ ...rawFromSpec(spec), name }, body);
  return specFromRaw(raw);
}

/**
 * Packs and uploads the folder (skipped when the control plane has the digest), then applies the
 * one spec with that digest as its revision. Env flags are refused here: an apply carries secret
 * names, not values, and setting them after would roll the service out twice.
 */
export async function bundledDeploy(client: ForgeClient, spec: ServiceSpec, body: ServiceBody, existing: ServiceJson | null, deps: CliDeps, progress: (text: string) => void): Promise<ServiceJson> {
  if (body.envVars !== undefined || body.envVarsPatch !== undefined) {
    throw new ForgeError('E_USAGE', `env flags do not combine with a source deploy of a folder with a spec: set values with forge secrets set ${spec.name} KEY=- (and list the names under secrets: in the spec)`);
  }
  const { envVars: _v, envVarsPatch: _p, ...fields } = body;
  const final = specWithFlags(spec, spec.name, fields);
  const bundles = await uploadBundles([final], deps, { progress });
  const plan = await client.call<ApplyPlan>('POST', '/api/v1/apply', {
    // Deploy is an upsert by name: the service stays with whoever owns it (a new one is the API's).
    source: existing?.source ?? 'api', specs: [rawFromSpec(final)], bundles, prune: false,
  });
  const entry = plan.entries.find((e) => e.name === final.name);
  if (entry && entry.op === 'unchanged') progress(`${final.name}: no changes (bundle ${bundles[final.name]?.slice(0, 19)}… already deployed)\n`);
  return client.call<ServiceJson>('GET', servicePath(final.name));
}
