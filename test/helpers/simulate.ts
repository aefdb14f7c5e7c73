// A simulated provider for property tests: applies diff()'s actions to an
// observed state the way a well-behaved provider would, instantly and without
// failures. Lives in test/ only: real providers are the source of truth.

import type { Action, Desired, Observed, ObservedInstance } from '../../providers/types.ts';

/**
 * The observed state after every action succeeded. `null` when nothing is left.
 * New instances get ids `sim-<n>` above any existing `sim-` id, so runs are deterministic.
 */
export function applyActionsToObserved(observed: Observed | null, actions: readonly Action[], desired: Desired | null): Observed | null {
  const key = desired?.key ?? observed?.key ?? '';
  let instances: ObservedInstance[] = (observed?.instances ?? []).map((i) => ({ ...i }));
  let next = nextSimId(instances);
  const fresh = (slot: number, action: { spec: Desired['spec']; hash: string; generation: number }): ObservedInstance => ({
    id: `sim-${next++}`,
    key,
    replica: slot,
    hash: action.hash,
    generation: action.generation,
    spec: action.spec,
    region: action.spec.region,
    state: 'running',
    health: 'healthy',
  });

  for (const action of actions) {
    switch (action.kind) {
      case 'destroy':
        instances = action.instanceId === undefined ? [] : instances.filter((i) => i.id !== action.instanceId);
        break;
      case 'create':
        instances.push(fresh(action.replica, action));
        break;
      case 'update':
        instances = instances.map((i) => (i.id === action.instanceId
          ? { ...i, spec: action.spec, hash: action.hash, generation: action.generation }
          : i));
        break;
      case 'replace':
        instances = instances.filter((i) => i.id !== action.instanceId);
        instances.push(fresh(action.replica, action));
        break;
      case 'start':
        instances = instances.map((i) => (i.id === action.instanceId ? { ...i, state: 'running', health: 'healthy' } : i));
        break;
      case 'stop':
        instances = instances.map((i) => (i.id === action.instanceId ? { ...i, state: 'stopped', health: 'unknown' } : i));
        break;
      case 'noop':
      case 'error':
        break;
    }
  }
  if (instances.length === 0 && (observed === null || actions.some((a) => a.kind === 'destroy' && a.instanceId === undefined))) {
    return null;
  }
  return { ...(observed ?? { key }), key, instances };
}

function nextSimId(instances: readonly ObservedInstance[]): number {
  let max = 0;
  for (const i of instances) {
    const m = /^sim-(\d+)$/.exec(i.id);
    if (m) max = Math.max(max, Number(m[1]));
  }
  return max + 1;
}
