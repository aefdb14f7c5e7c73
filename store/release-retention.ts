// Which releases a service keeps (pure). Releases are the rollback history and
// what keeps a source bundle alive (store/bundle-refs.ts), so this rule is also
// the bundles' retention rule: a bundle goes once no kept release names it.
//
// Kept: the newest `keep` releases (FORGE_RELEASE_HISTORY), the release at the
// service's current generation, the newest succeeded one (what serves), and the
// release a plain `forge rollback` would pick (the newest succeeded one older than
// the current generation with another spec), however old they are.

import type { ReleaseRow } from './types.ts';

/** Releases kept per service unless FORGE_RELEASE_HISTORY says otherwise. */
export const DEFAULT_RELEASE_HISTORY = 10;

export interface ServiceNow {
  generation: number;
  hash: string;
}

/** The generations of `releases` (any order) to delete; the service is null when it no longer exists. */
export function releasesToPrune(releases: readonly Pick<ReleaseRow, 'generation' | 'hash' | 'outcome'>[], service: ServiceNow | null, keep: number): number[] {
  if (service === null) return releases.map((r) => r.generation);
  const newest = [...releases].sort((a, b) => b.generation - a.generation);
  const kept = new Set(newest.slice(0, Math.max(1, keep)).map((r) => r.generation));
  kept.add(service.generation);
  const serving = newest.find((r) => r.outcome === 'succeeded');
  if (serving) kept.add(serving.generation);
  const rollbackTarget = newest.find((r) => r.outcome === 'succeeded' && r.generation < service.generation && r.hash !== service.hash);
  if (rollbackTarget) kept.add(rollbackTarget.generation);
  return newest.filter((r) => !kept.has(r.generation)).map((r) => r.generation).sort((a, b) => a - b);
}
