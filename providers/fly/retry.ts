// Retry timing for the Fly client, pure so tests can pin it: exponential backoff
// with full jitter, Retry-After parsing, and a per-machine token bucket (Fly allows
// about one mutating request per second per machine, with a burst of three).

export interface BackoffPolicy {
  baseMs: number;
  maxMs: number;
}

/** Full jitter: a uniform delay in [0, min(max, base·2^attempt)). `attempt` starts at 0. */
export function backoffDelayMs(attempt: number, policy: BackoffPolicy, random: () => number): number {
  const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** attempt);
  return Math.floor(random() * ceiling);
}

/** Retry-After as delta-seconds or an HTTP date; undefined when absent or unreadable. */
export function retryAfterMs(header: string | undefined, nowMs: number): number | undefined {
  if (header === undefined || header.trim() === '') return undefined;
  const trimmed = header.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

export interface RateLimit {
  perSecond: number;
  burst: number;
}

export const FLY_MACHINE_RATE: RateLimit = { perSecond: 1, burst: 3 };

interface Bucket {
  tokens: number;
  at: number;
}

/** One token bucket per key (a machine id); `take` waits until a token is free. */
export class TokenBuckets {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly limit: RateLimit,
    private readonly now: () => number,
    private readonly sleep: (ms: number) => Promise<void>,
  ) {}

  /** How long a request for `key` would wait right now (0 = go), consuming a token when it is 0. */
  tryTake(key: string): number {
    const t = this.now();
    const b = this.buckets.get(key) ?? { tokens: this.limit.burst, at: t };
    b.tokens = Math.min(this.limit.burst, b.tokens + ((t - b.at) / 1000) * this.limit.perSecond);
    b.at = t;
    this.buckets.set(key, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      if (this.buckets.size > 10_000) this.prune(t);
      return 0;
    }
    return Math.ceil(((1 - b.tokens) / this.limit.perSecond) * 1000);
  }

  async take(key: string): Promise<void> {
    for (let waited = 0; waited < 1000; waited++) {
      const wait = this.tryTake(key);
      if (wait === 0) return;
      await this.sleep(wait);
    }
  }

  private prune(t: number): void {
    for (const [key, b] of this.buckets) {
      if (b.tokens + ((t - b.at) / 1000) * this.limit.perSecond >= this.limit.burst) this.buckets.delete(key);
    }
  }
}
