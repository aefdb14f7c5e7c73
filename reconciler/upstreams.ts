// Pure: which instances a service's route sends traffic to. The route flips from
// the old release to the new one only when every replica of the new one is
// ready; until then the old release keeps all the traffic. Instances about to be
// stopped are left out first, so nothing is sent to a process that is going away.

import type { Desired, Observed, ObservedInstance } from '../providers/types.ts';

export interface UpstreamChoice {
  /** `host:port` of each instance that gets traffic, sorted. Empty: the route answers 503. */
  upstreams: string[];
  /** Which release the route serves: the desired one, an older one, or none. */
  serving: 'desired' | 'previous' | 'none';
}

export function chooseUpstreams(
  desired: Desired,
  observed: Observed | null,
  options: { excluding?: ReadonlySet<string>; badRelease?: boolean } = {},
): UpstreamChoice {
  if (desired.deleting || desired.state === 'stopped') return { upstreams: [], serving: 'none' };
  const ready = (observed?.instances ?? []).filter((i) => isRoutable(i) && !options.excluding?.has(i.id));
  const current = ready.filter((i) => i.hash === desired.hash);
  const previous = ready.filter((i) => i.hash !== desired.hash);
  const replicas = desired.spec.replicas;
  const everySlotReady = new Set(current.map((i) => i.replica)).size >= replicas;
  if (!options.badRelease && current.length > 0 && (everySlotReady || previous.length === 0)) {
    return { upstreams: addresses(current), serving: 'desired' };
  }
  if (previous.length > 0) return { upstreams: addresses(previous), serving: 'previous' };
  return { upstreams: [], serving: 'none' };
}

function isRoutable(instance: ObservedInstance): boolean {
  return instance.state === 'running' && instance.health === 'healthy' && typeof instance.address === 'string' && instance.address !== '';
}

function addresses(instances: readonly ObservedInstance[]): string[] {
  return [...new Set(instances.map((i) => i.address!))].sort();
}
