// One refresh of a provider's cache at a time, and none more often than the
// provider allows: concurrent callers share the refresh in flight, and a forced
// one queues behind it so it starts after the caller's own request.

export interface ResyncGate {
  (force?: boolean): Promise<void>;
  /** Resolves when no refresh is running (for close()). */
  settled(): Promise<void>;
}

export function createResyncGate(run: () => Promise<void>, isDue: () => boolean): ResyncGate {
  let inflight: Promise<void> | undefined;
  const resync = (force = false): Promise<void> => {
    if (inflight) return force ? inflight.catch(() => undefined).then(() => resync(true)) : inflight;
    if (!force && !isDue()) return Promise.resolve();
    inflight = run().finally(() => {
      inflight = undefined;
    });
    return inflight;
  };
  return Object.assign(resync, { settled: async () => { await inflight?.catch(() => undefined); } });
}
