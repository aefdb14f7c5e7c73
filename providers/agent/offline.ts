// Marks agents offline after missed heartbeats and cancels the work targeted at
// them: a task held by a dead agent would otherwise wait for it forever (targeted
// tasks are only re-handed to their own agent). The reconciler then sees their
// instances gone and places them elsewhere.

import type { Store } from '../../store/index.ts';

/** Ids of the agents that just went offline. */
export function sweepOfflineAgents(store: Store, now: number, heartbeatTimeoutMs: number): string[] {
  return store.transaction(() => {
    const lost = store.agents.markOffline(heartbeatTimeoutMs, now);
    for (const id of lost) store.tasks.cancelForAgent(id);
    return lost;
  });
}
