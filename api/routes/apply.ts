// POST /api/v1/apply: a whole set of specs from one source, validated strictly
// (every problem of every spec reported together), then written as one apply set.

import type { FastifyInstance } from 'fastify';
import { parseAllDocuments } from 'yaml';
import { applySet, type ApplyPlan, type SpecWithHash } from '../service-apply-set.ts';
import { parseSpecTextOffThread, specHash, specInvalidError, validateSpecObject, type LoadedSpec, type SpecProblem } from '../../specs/index.ts';
import { actorOf } from '../auth.ts';
import type { ApiContext } from '../context.ts';
import { applyBody } from '../schemas.ts';
import { desiredHash, openSecrets } from '../secrets.ts';
import { assertHostnamesFree } from '../hostnames.ts';
import { placeSpec } from '../service-writes.ts';
import { refuseRegionChange } from '../region-guard.ts';
import { requireBundledSources, requireStoredBundles, withBundle } from './bundles.ts';
import { pinSpecs } from '../image-pins.ts';

interface ApplyBody {
  source?: string;
  specs: Record<string, unknown>[];
  prune?: boolean;
  dryRun?: boolean;
  bundles?: Record<string, string>;
}

function isYamlText(item: Record<string, unknown>): item is { text: string; file?: string } {
  return typeof item.text === 'string' && item.name === undefined;
}

/** Every spec of the body, or all problems (positioned for YAML text, by path for objects). */
export async function specsFromBody(items: readonly Record<string, unknown>[]): Promise<{ specs: LoadedSpec[]; problems: SpecProblem[] }> {
  const specs: LoadedSpec[] = [];
  const problems: SpecProblem[] = [];
  for (const [index, item] of items.entries()) {
    // YAML text is checked against the parser limits first; a large text is parsed on a worker
    // thread, so /healthz and agent heartbeats keep being answered meanwhile.
    const result = isYamlText(item)
      ? await parseSpecTextOffThread(item.text, typeof item.file === 'string' ? item.file : `specs[${index}]`)
      : validateSpecObject(item, { file: `specs[${index}]` });
    if (result.ok) specs.push(...result.specs);
    else problems.push(...result.problems);
  }
  const seen = new Map<string, string>();
  for (const { spec, file } of specs) {
    const earlier = seen.get(spec.name);
    if (earlier !== undefined) problems.push({ file, path: 'name', message: `service ${spec.name} is also defined in ${earlier}` });
    seen.set(spec.name, file);
  }
  return { specs, problems };
}

/** Names of the services whose spec gives `provider` itself (objects, and every document of YAML text). */
export function namesWithProvider(items: readonly Record<string, unknown>[]): Set<string> {
  const out = new Set<string>();
  for (const item of items) {
    const docs: unknown[] = isYamlText(item) ? parseAllDocuments(item.text).map((d) => d.toJS({ maxAliasCount: 100 }) as unknown) : [item];
    for (const doc of docs) {
      const o = doc !== null && typeof doc === 'object' ? (doc as Record<string, unknown>) : {};
      if (typeof o['name'] === 'string' && o['provider'] !== undefined) out.add(o['name']);
    }
  }
  return out;
}

/**
 * The desired hash of each spec, folding in the values of the secrets it names. A file owns the
 * secret names it lists; a value set through the API owns its name until unset, so names with a
 * stored value join the spec (`keptSecrets`) instead of being dropped by an apply.
 */
export function withDesiredHashes(ctx: ApiContext, specs: readonly LoadedSpec[]): SpecWithHash[] {
  return specs.map(({ spec: given }) => {
    const row = ctx.store.services.get(given.name);
    const stored = row && !row.deleting ? ctx.store.secrets.keys(given.name) : [];
    const keptSecrets = stored.filter((key) => !given.secrets.includes(key));
    const spec = keptSecrets.length === 0 ? given : { ...given, secrets: [...given.secrets, ...keptSecrets].sort() };
    const values = spec.secrets.length > 0 && row ? openSecrets(ctx.store, ctx.cipher, spec.name) : {};
    return { spec, hash: desiredHash(spec, values, ctx.hashKey), ...(keptSecrets.length > 0 ? { keptSecrets } : {}) };
  });
}

export function applySpecs(ctx: ApiContext, source: string, specs: readonly LoadedSpec[], options: { prune?: boolean; dryRun?: boolean }, actor: string): ApplyPlan {
  // The hostname check and the write share one transaction: no other write slips in between.
  return ctx.store.transaction(() => {
    const names = new Set(specs.map(({ spec }) => spec.name));
    const pruned = options.prune ? ctx.store.services.listBySource(source).map((r) => r.name).filter((n) => !names.has(n)) : [];
    assertHostnamesFree(ctx.store, ctx.domain, specs.map(({ spec }) => ({ name: spec.name, domains: spec.domains })), new Set(pruned));
    return writeSpecs(ctx, source, specs, options, actor);
  });
}

function writeSpecs(ctx: ApiContext, source: string, specs: readonly LoadedSpec[], options: { prune?: boolean; dryRun?: boolean }, actor: string): ApplyPlan {
  const plan = applySet(ctx.store, source, withDesiredHashes(ctx, specs), { ...options, actor });
  if (!plan.dryRun) for (const key of plan.changed) ctx.nudge(key);
  return plan;
}

export function registerApplyRoute(app: FastifyInstance, ctx: ApiContext): void {
  app.post<{ Body: ApplyBody }>('/api/v1/apply', { schema: { body: applyBody } }, async (request) => {
    const { specs, problems } = await specsFromBody(request.body.specs);
    if (problems.length > 0) throw specInvalidError(problems);
    const named = namesWithProvider(request.body.specs);
    const placed = specs.map((loaded) => {
      const row = ctx.store.services.get(loaded.spec.name);
      const existing = row && !row.deleting ? row.spec : null;
      // A spec that names no provider keeps the one its service already runs on, else gets one that can run it.
      const provider = named.has(loaded.spec.name) ? loaded.spec.provider : existing?.provider;
      const spec = placeSpec(ctx, loaded.spec, provider);
      refuseRegionChange(existing, spec);
      return spec === loaded.spec ? loaded : { ...loaded, spec, hash: specHash(spec) };
    }).map((loaded) => withBundle(loaded, request.body.bundles));
    requireBundledSources(ctx, placed);
    await requireStoredBundles(ctx, placed);
    // Image tags resolve to the digest the release pins (api/image-pins.ts); a failure writes nothing.
    const pinned = await pinSpecs(ctx, placed);
    const options = { prune: request.body.prune ?? false, dryRun: request.body.dryRun ?? false };
    return applySpecs(ctx, request.body.source ?? 'api', pinned, options, actorOf(request));
  });
}
