// POST /api/v1/apply: a whole set of specs from one source, validated strictly
// (every problem of every spec reported together), then written as one apply set.

import type { FastifyInstance } from 'fastify';
import { applySet, type ApplyPlan, type SpecWithHash } from '../../reconciler/apply-set.ts';
import { parseSpecText, specInvalidError, validateSpecObject, type LoadedSpec, type SpecProblem } from '../../specs/index.ts';
import { actorOf } from '../auth.ts';
import type { ApiContext } from '../context.ts';
import { applyBody } from '../schemas.ts';
import { desiredHash, openSecrets } from '../secrets.ts';
import { assertProviderConfigured } from '../service-writes.ts';

interface ApplyBody {
  source?: string;
  specs: Record<string, unknown>[];
  prune?: boolean;
  dryRun?: boolean;
}

function isYamlText(item: Record<string, unknown>): item is { text: string; file?: string } {
  return typeof item.text === 'string' && item.name === undefined;
}

/** Every spec of the body, or all problems (positioned for YAML text, by path for objects). */
export function specsFromBody(items: readonly Record<string, unknown>[]): { specs: LoadedSpec[]; problems: SpecProblem[] } {
  const specs: LoadedSpec[] = [];
  const problems: SpecProblem[] = [];
  items.forEach((item, index) => {
    const result = isYamlText(item)
      ? parseSpecText(item.text, typeof item.file === 'string' ? item.file : `specs[${index}]`)
      : validateSpecObject(item, { file: `specs[${index}]` });
    if (result.ok) specs.push(...result.specs);
    else problems.push(...result.problems);
  });
  const seen = new Map<string, string>();
  for (const { spec, file } of specs) {
    const earlier = seen.get(spec.name);
    if (earlier !== undefined) problems.push({ file, path: 'name', message: `service ${spec.name} is also defined in ${earlier}` });
    seen.set(spec.name, file);
  }
  return { specs, problems };
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
  const plan = applySet(ctx.store, source, withDesiredHashes(ctx, specs), { ...options, actor });
  if (!plan.dryRun) for (const key of plan.changed) ctx.nudge(key);
  return plan;
}

export function registerApplyRoute(app: FastifyInstance, ctx: ApiContext): void {
  app.post<{ Body: ApplyBody }>('/api/v1/apply', { schema: { body: applyBody } }, async (request) => {
    const { specs, problems } = specsFromBody(request.body.specs);
    if (problems.length > 0) throw specInvalidError(problems);
    if (!request.body.dryRun) for (const { spec } of specs) assertProviderConfigured(ctx, spec);
    const options = { prune: request.body.prune ?? false, dryRun: request.body.dryRun ?? false };
    return applySpecs(ctx, request.body.source ?? 'api', specs, options, actorOf(request));
  });
}
