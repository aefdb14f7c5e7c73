// Pure: CrashLoopBackOff. A replica that keeps crashing is replaced after growing
// delays: the first crash at once, then base, 2×base, … up to max (Kubernetes'
// 10 s … 5 min). A provider that counts crashes per replica slot (agents do, and
// their count survives a control plane restart) reports `restarts` and `exitedAt`
// on the failed instance; for the others the controller counts the replacements
// it made itself (`kept`).

import type { ObservedInstance } from '../providers/types.ts';

export interface CrashBackoffPolicy {
  /** Delay before the second replacement in a row; doubles after that. */
  baseMs: number;
  maxMs: number;
}

export const DEFAULT_CRASH_BACKOFF: CrashBackoffPolicy = { baseMs: 10_000, maxMs: 300_000 };

/** How long after the `crashes`-th crash in a row the replacement may start. */
export function crashBackoffMs(crashes: number, policy: CrashBackoffPolicy = DEFAULT_CRASH_BACKOFF): number {
  if (crashes <= 1) return 0;
  return Math.min(policy.maxMs, policy.baseMs * 2 ** (crashes - 2));
}

/** The controller's own count of replacements of one service's crashed instances. */
export interface CrashCount {
  count: number;
  lastAt: number;
}

export interface CrashWait {
  /** ms before the crashed instances may be replaced; 0 means now. */
  waitMs: number;
  /** What the status says while waiting; null when not waiting. */
  message: string | null;
  /** The controller's count after this decision (changes only for providers that do not count). */
  kept: CrashCount | undefined;
}

/** May the crashed instances of one service be replaced now? */
export function crashWait(crashed: readonly ObservedInstance[], kept: CrashCount | undefined, now: number,
  policy: CrashBackoffPolicy = DEFAULT_CRASH_BACKOFF): CrashWait {
  if (crashed.length === 0) return { waitMs: 0, message: null, kept };
  const counted = crashed.filter((i) => i.restarts !== undefined && i.exitedAt !== undefined);
  if (counted.length > 0) {
    let longest: { waitMs: number; instance: ObservedInstance } = { waitMs: 0, instance: counted[0]! };
    for (const instance of counted) {
      const waitMs = instance.exitedAt! + crashBackoffMs(instance.restarts!, policy) - now;
      if (waitMs > longest.waitMs) longest = { waitMs, instance };
    }
    if (longest.waitMs <= 0) return { waitMs: 0, message: null, kept };
    const { instance, waitMs } = longest;
    return {
      waitMs, kept,
      // The exit itself is in the instance's reason and the events; this says when the next try is.
      message: `CrashLoopBackOff: replica ${instance.replica} crashed ${instance.restarts} times in a row; restarting in ${Math.ceil(waitMs / 1000)}s`,
    };
  }
  const waitMs = kept ? kept.lastAt + crashBackoffMs(kept.count + 1, policy) - now : 0;
  if (waitMs > 0) return { waitMs, kept, message: `CrashLoopBackOff: restarting in ${Math.ceil(waitMs / 1000)}s` };
  return { waitMs: 0, message: null, kept: { count: (kept?.count ?? 0) + 1, lastAt: now } };
}
