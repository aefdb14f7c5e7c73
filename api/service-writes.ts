// The compute API's writes. Each one: merge the body over the stored spec,
// validate with specs/, seal env values, write row + secrets + audit in one
// transaction, then nudge the loop with the key.

import { ForgeError } from '../errors/index.ts';
import type { ProviderName, ServiceSpec } from '../specs/types.ts';
import { chooseProvider } from '../providers/select.ts';
import type { DesiredRow, UpsertResult } from '../store/index.ts';
import type { ApiContext } from './context.ts';
import { refuseRegionChange } from './region-guard.ts';
import { pinImage } from './image-pins.ts';
import { isImageDigest } from '../specs/image-ref.ts';
import { assertHostnamesFree } from './hostnames.ts';
import { desiredHash, openSecrets, sealValues } from './secrets.ts';
import {
  awaitsImage, mergeBody, nextEnvValues, rawFromSpec, sourceModeBase, specFromRaw, withSecretNames, type ServiceBody,
} from './service-spec.ts';

/** image: POST /services (create + launch). source: POST /services/deploy (create, wait for the image). patch: PATCH. */
export type WriteMode = 'image' | 'source' | 'patch';

export interface WriteResult extends UpsertResult {
  envChanged: boolean;
}

/** The live (not deleting) row for a service id or name. */
export function findService(ctx: ApiContext, idOrName: string): DesiredRow | null {
  const row = ctx.store.services.getById(idOrName) ?? ctx.store.services.get(idOrName);
  return row && !row.deleting ? row : null;
}

/**
 * The row a read shows: a service being destroyed is still there (status `destroying`)
 * until its provider has torn it down and the loop removed the row.
 */
export function requireServiceToRead(ctx: ApiContext, idOrName: string): DesiredRow {
  const row = ctx.store.services.getById(idOrName) ?? ctx.store.services.get(idOrName);
  if (!row) throw new ForgeError('E_NOT_FOUND', `no service ${JSON.stringify(idOrName)}`);
  return row;
}

/** The live row a change applies to; a service being destroyed is a conflict, not a 404. */
export function requireService(ctx: ApiContext, idOrName: string): DesiredRow {
  const row = requireServiceToRead(ctx, idOrName);
  if (row.deleting) {
    throw new ForgeError('E_CONFLICT',
      `service ${row.name} is being destroyed; wait until it is gone (forge list), or create it again to keep it`);
  }
  return row;
}

export function assertProviderConfigured(ctx: ApiContext, spec: ServiceSpec): void {
  chooseProvider(spec, spec.provider, ctx.providers);
}

/**
 * The spec on a provider that is configured and can run it. `named`: the provider
 * the writer gave, else the one the existing service has; with neither, one is
 * chosen by capabilities (providers/select.ts). Throws before anything is written.
 */
export function placeSpec(ctx: ApiContext, spec: ServiceSpec, named: ProviderName | undefined): ServiceSpec {
  const provider = chooseProvider(spec, named, ctx.providers);
  // No spec rule depends on the provider, so the validated spec stays valid on another.
  return provider === spec.provider ? spec : { ...spec, provider };
}

function desiredStateFor(mode: WriteMode, existing: DesiredRow | null, spec: ServiceSpec): 'running' | 'stopped' | undefined {
  if (mode === 'image') return 'running';
  if (mode === 'source') return existing ? undefined : 'stopped';
  // The image a remote source build produced arrives by PATCH: that is the launch.
  return existing && awaitsImage(existing.spec) && !awaitsImage(spec) ? 'running' : undefined;
}

export async function writeService(ctx: ApiContext, name: string, body: ServiceBody, mode: WriteMode, actor: string): Promise<WriteResult> {
  const stored = ctx.store.services.get(name);
  const existing = stored && !stored.deleting ? stored : null;
  if (mode === 'patch' && !existing) throw new ForgeError('E_NOT_FOUND', `no service ${JSON.stringify(name)}`);
  refuseOtherOwner(existing, name, body.source);
  const base = existing ? rawFromSpec(existing.spec) : mode === 'source' ? sourceModeBase(name) : { name };
  let opened: Record<string, string> | undefined;
  const current = () => (opened ??= existing ? openSecrets(ctx.store, ctx.cipher, name) : {});
  let values = nextEnvValues(body, current);
  // A service coming back from deletion does not inherit the old incarnation's values.
  if (values === undefined && stored?.deleting) values = {};
  // The same values again (a repeated deploy) rewrite nothing: no fresh nonces, no write.
  const unchanged = values !== undefined && existing !== null && sameValues(values, current());
  const raw = withSecretNames(mergeBody(base, body), values);
  const spec = await pinnedSpec(ctx, placeSpec(ctx, specFromRaw(raw), raw.provider as ProviderName | undefined), body, existing);
  refuseRegionChange(existing?.spec, spec);
  const hashValues = values ?? (spec.secrets.length > 0 ? current() : {});
  const hash = desiredHash(spec, hashValues, ctx.hashKey);
  const state = desiredStateFor(mode, existing, spec);
  const sealed = values === undefined || unchanged ? undefined : sealValues(ctx.cipher, name, values);

  const result = ctx.store.transaction(() => {
    assertHostnamesFree(ctx.store, ctx.domain, [{ name, domains: spec.domains }]);
    const upserted = ctx.store.services.upsert({ name, spec, hash, source: existing?.source ?? body.source ?? 'api', ...(state ? { state } : {}) });
    if (sealed !== undefined) ctx.store.secrets.replaceAll(name, sealed);
    ctx.store.audit.append({
      actor,
      action: mode === 'patch' ? 'service.update' : mode === 'source' ? 'service.deploy-source' : 'service.upsert',
      target: name,
      details: {
        created: upserted.created, changed: upserted.changed, generation: upserted.row.generation,
        ...(values !== undefined ? { envKeys: Object.keys(values).sort() } : {}),
      },
    });
    return upserted;
  });
  ctx.nudge(name);
  return { ...result, envChanged: sealed !== undefined };
}

/**
 * The spec pinned to its image's digest (api/image-pins.ts). A write that names an image
 * resolves its tag now; one that leaves the image alone (an env or size change) keeps the
 * digest the service runs: changing a setting never moves the code.
 */
async function pinnedSpec(ctx: ApiContext, spec: ServiceSpec, body: ServiceBody, existing: DesiredRow | null): Promise<ServiceSpec> {
  const kept = existing?.spec.revision;
  if (body.image === undefined && existing?.spec.image === spec.image && spec.image !== undefined && isImageDigest(kept)) {
    return spec.revision === kept ? spec : { ...spec, revision: kept };
  }
  return pinImage(ctx, spec);
}

/**
 * A writer that says who it is (`source`, e.g. a Forge in cloud mode) changes only the
 * services it owns: a service of that name owned by someone else is theirs.
 */
function refuseOtherOwner(existing: DesiredRow | null, name: string, owner: string | undefined): void {
  if (owner === undefined || !existing || existing.source === owner) return;
  throw new ForgeError('E_CONFLICT', `service ${name} belongs to ${existing.source}, not to ${owner}; it was not changed`, {
    details: { owner: existing.source },
  });
}

function sameValues(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => Object.hasOwn(b, k) && a[k] === b[k]);
}

export function setDesiredState(ctx: ApiContext, idOrName: string, state: 'running' | 'stopped', actor: string): DesiredRow {
  const row = requireService(ctx, idOrName);
  ctx.store.transaction(() => {
    const moved = ctx.store.services.setState(row.name, state);
    ctx.store.audit.append({ actor, action: state === 'running' ? 'service.start' : 'service.stop', target: row.name, details: { changed: moved } });
  });
  ctx.nudge(row.name);
  return ctx.store.services.get(row.name) ?? row;
}

export interface DeletedSnapshot {
  id: string;
  name: string;
  provider: string;
  image: string | null;
  generation: number;
  source: string;
  envKeys: string[];
  url: string | null;
  instances: string[];
}

/** Two-phase delete, phase one: mark the row; the loop destroys remote objects and removes it. */
export async function deleteService(ctx: ApiContext, idOrName: string, actor: string): Promise<DeletedSnapshot> {
  const row = requireService(ctx, idOrName);
  const [observed] = await ctx.observe([row.name]);
  const snapshot: DeletedSnapshot = {
    id: row.id,
    name: row.name,
    provider: row.spec.provider,
    image: row.spec.image ?? null,
    generation: row.generation,
    source: row.source,
    envKeys: ctx.store.secrets.keys(row.name),
    url: ctx.store.status.get(row.name)?.url ?? observed?.url ?? null,
    instances: (observed?.key === row.name ? observed.instances : []).map((i) => i.id),
  };
  ctx.store.transaction(() => {
    ctx.store.services.markDeleting(row.name);
    ctx.store.audit.append({ actor, action: 'service.delete', target: row.name, details: snapshot });
  });
  ctx.nudge(row.name);
  return snapshot;
}
