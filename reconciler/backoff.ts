// Exponential backoff with full jitter: the delay before retry number `attempt`
// (1-based) is uniform in [base, min(max, base * 2^(attempt-1))]. Randomness comes
// in as an argument so tests are exact.

export interface BackoffPolicy {
  baseMs: number;
  maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 500, maxMs: 60_000 };

export function backoffDelay(attempt: number, random: () => number, policy: BackoffPolicy = DEFAULT_BACKOFF): number {
  const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(policy.baseMs + random() * Math.max(0, ceiling - policy.baseMs));
}
