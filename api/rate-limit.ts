// Token buckets keyed by a string (a source address), with an injected clock so
// tests are exact. Pure apart from the map it keeps; the number of keys is capped
// so a flood of spoofed-looking addresses cannot grow memory without bound.

export interface BucketPolicy {
  /** Tokens a fresh key starts with (the burst). */
  burst: number;
  /** Tokens regained per second. */
  perSecond: number;
  /** Keys kept at most; the least recently touched are forgotten first (default 10,000). */
  maxKeys?: number;
}

export interface Take {
  ok: boolean;
  /** When not ok: whole seconds until one token is back (for Retry-After). */
  retryAfterSeconds: number;
}

export interface RateLimiter {
  /** Takes one token for `key`, if there is one. */
  take(key: string): Take;
  /** Whether `key` has a token now, without taking it. */
  check(key: string): Take;
}

export function createRateLimiter(policy: BucketPolicy, now: () => number): RateLimiter {
  const buckets = new Map<string, { tokens: number; at: number }>();
  const maxKeys = policy.maxKeys ?? 10_000;

  function current(key: string): { tokens: number; at: number } {
    const t = now();
    const bucket = buckets.get(key);
    const tokens = bucket === undefined ? policy.burst : Math.min(policy.burst, bucket.tokens + ((t - bucket.at) / 1000) * policy.perSecond);
    const next = { tokens, at: t };
    buckets.delete(key); // re-inserted below: Map order is least recently touched first
    buckets.set(key, next);
    while (buckets.size > maxKeys) buckets.delete(buckets.keys().next().value as string);
    return next;
  }

  const wait = (tokens: number) => Math.max(1, Math.ceil((1 - tokens) / policy.perSecond));

  return {
    take(key) {
      const bucket = current(key);
      if (bucket.tokens < 1) return { ok: false, retryAfterSeconds: wait(bucket.tokens) };
      bucket.tokens -= 1;
      return { ok: true, retryAfterSeconds: 0 };
    },
    check(key) {
      const bucket = current(key);
      return bucket.tokens < 1 ? { ok: false, retryAfterSeconds: wait(bucket.tokens) } : { ok: true, retryAfterSeconds: 0 };
    },
  };
}
