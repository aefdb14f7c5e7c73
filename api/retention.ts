// The control plane's retention sweep: old releases first (store/release-retention.ts
// decides which a service keeps), then the bundles no remaining service or release
// names (after a grace for uploads whose apply has not landed). Run after each
// upload and on a timer, so a quiet control plane also lets go of old bundles.

import { releasesToPrune } from '../store/release-retention.ts';
import type { ApiContext } from './context.ts';

/** How often the timer sweeps. */
export const RETENTION_INTERVAL_MS = 60 * 60_000;

export interface RetentionResult {
  /** Releases deleted, per service name. */
  releases: Record<string, number[]>;
  /** Bundle digests deleted. */
  bundles: string[];
}

export async function sweepRetention(ctx: Pick<ApiContext, 'store' | 'bundles' | 'now'>, keepReleases: number): Promise<RetentionResult> {
  const { store } = ctx;
  const releases: Record<string, number[]> = {};
  for (const name of store.releases.names()) {
    const row = store.services.get(name);
    const prune = releasesToPrune(store.releases.list(name), row ? { generation: row.generation, hash: row.hash } : null, keepReleases);
    if (prune.length > 0 && store.releases.remove(name, prune) > 0) releases[name] = prune;
  }
  const bundles = ctx.bundles ? await ctx.bundles.prune(store.revisions.referenced(), ctx.now()) : [];
  return { releases, bundles };
}

/** Sweeps now and then; one sweep at a time. Returns the stop function. */
export function startRetentionTimer(ctx: Pick<ApiContext, 'store' | 'bundles' | 'now'>, keepReleases: number, onError: (error: unknown) => void, intervalMs = RETENTION_INTERVAL_MS): () => void {
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    sweepRetention(ctx, keepReleases).catch(onError).finally(() => { running = false; });
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
