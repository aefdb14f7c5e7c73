// Wakes long-polling claim requests when a task is queued for an agent (or for
// any agent), so a claim answers at once instead of at the next poll.

export interface TaskBell {
  /** Wake waiters of `agentId`, or everyone when omitted (untargeted work). */
  ring(agentId?: string): void;
  /** Resolves after `ms`, on a ring for this agent, or when `signal` aborts; never rejects. */
  wait(agentId: string, ms: number, signal?: AbortSignal): Promise<void>;
}

export function createTaskBell(): TaskBell {
  const waiters = new Map<string, Set<() => void>>();
  return {
    ring(agentId) {
      const targets = agentId === undefined ? [...waiters.values()] : [waiters.get(agentId) ?? new Set()];
      for (const set of targets) for (const wake of [...set]) wake();
    },
    wait(agentId, ms, signal) {
      return new Promise((resolve) => {
        if (signal?.aborted) return resolve();
        const set = waiters.get(agentId) ?? new Set();
        waiters.set(agentId, set);
        const done = () => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', done);
          set.delete(done);
          if (set.size === 0 && waiters.get(agentId) === set) waiters.delete(agentId);
          resolve();
        };
        const timer = setTimeout(done, Math.max(0, ms));
        signal?.addEventListener('abort', done, { once: true });
        set.add(done);
      });
    },
  };
}
