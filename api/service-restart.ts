// Restart: the same spec rolled out again as a new generation. Like Kubernetes'
// `rollout restart` (which stamps a restartedAt annotation into the pod template),
// the release gets a hash of its own: derived from the current one and the new
// generation, so every instance is replaced (health-gated) and a release that
// failed under the old hash is tried afresh — the way to retry a failed release
// whose cause was fixed outside the spec (a package installed on the host, a
// dependency that came back). A later write of the spec computes the plain hash
// again, which is one more rollout of the same spec.

import { createHash } from 'node:crypto';
import type { DesiredRow } from '../store/index.ts';
import type { ApiContext } from './context.ts';
import { assertProviderConfigured, requireService, setDesiredState } from './service-writes.ts';

export function restartHash(hash: string, generation: number): string {
  return createHash('sha256').update(`${hash}:restart:${generation}`).digest('hex');
}

export function restartService(ctx: ApiContext, idOrName: string, actor: string, state?: 'running'): DesiredRow {
  const row = requireService(ctx, idOrName);
  assertProviderConfigured(ctx, row.spec);
  const hash = restartHash(row.hash, row.generation + 1);
  const result = ctx.store.transaction(() => {
    const upserted = ctx.store.services.upsert({ name: row.name, spec: row.spec, hash, source: row.source, ...(state ? { state } : {}) });
    ctx.store.audit.append({ actor, action: 'service.restart', target: row.name, details: { generation: upserted.row.generation, from: row.generation } });
    return upserted;
  });
  ctx.nudge(row.name);
  return result.row;
}

/** Whether the service's current release failed (first release or not): what a start should retry. */
function currentReleaseFailed(ctx: ApiContext, row: DesiredRow): boolean {
  if (ctx.store.releases.isBad(row.name, row.hash)) return true;
  // The status follows the current row (a new generation leaves `failed` within a pass).
  return ctx.store.status.get(row.name)?.phase === 'failed';
}

/** Start: a stopped service runs again; a failed one is retried as a new generation (a plain start would change nothing). */
export function startService(ctx: ApiContext, idOrName: string, actor: string): DesiredRow {
  const row = requireService(ctx, idOrName);
  if (currentReleaseFailed(ctx, row)) return restartService(ctx, row.name, actor, 'running');
  return setDesiredState(ctx, row.name, 'running', actor);
}
