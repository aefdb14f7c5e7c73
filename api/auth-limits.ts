// Brute force and registration floods, per source address: a source that failed
// authentication too often is answered 429 with Retry-After before its credential is
// even looked at, and agent registrations are rationed. Counted in prom-client metrics
// labelled by surface only (never by address or credential).

import { Counter, type Registry } from 'prom-client';
import { ForgeError } from '../errors/index.ts';
import { createRateLimiter, type BucketPolicy, type RateLimiter } from './rate-limit.ts';

export type AuthSurface = 'admin' | 'agent' | 'webhook';

export interface AuthLimitsOptions {
  now?: () => number;
  registry?: Registry;
  /** Failed authentications a source may make: 20 at once, then one every 2 s. */
  failures?: BucketPolicy;
  /** Agent registrations a source may make: 10 at once, then one every 6 s. */
  registrations?: BucketPolicy;
}

export const DEFAULT_FAILURE_POLICY: BucketPolicy = { burst: 20, perSecond: 0.5 };
export const DEFAULT_REGISTRATION_POLICY: BucketPolicy = { burst: 10, perSecond: 1 / 6 };

export interface AuthLimits {
  /** Throws 429 when `source` has used up its failed authentications. */
  assertNotBlocked(source: string, surface: AuthSurface): void;
  /** Counts one failed authentication of `source`. */
  failed(source: string, surface: AuthSurface): void;
  /** Takes one registration for `source`, or throws 429. */
  registration(source: string): void;
}

function tooMany(what: string, retryAfterSeconds: number): ForgeError {
  return new ForgeError('E_RATE_LIMITED', `too many ${what} from this address; try again in ${retryAfterSeconds} s`, {
    details: { retryAfterSeconds },
  });
}

const counters = new WeakMap<Registry, { failures: Counter<'surface'>; limited: Counter<'limit'> }>();

function metricsFor(registry: Registry | undefined) {
  const make = (registers: Registry[]) => ({
    failures: new Counter({ name: 'forge_auth_failures_total', help: 'Failed authentications, by surface (admin API, agent protocol, webhook).', labelNames: ['surface'] as const, registers }),
    limited: new Counter({ name: 'forge_rate_limited_total', help: 'Requests answered 429, by limit (auth_failures, agent_registrations).', labelNames: ['limit'] as const, registers }),
  });
  if (registry === undefined) return make([]);
  let existing = counters.get(registry);
  if (existing === undefined) {
    existing = make([registry]);
    counters.set(registry, existing);
  }
  return existing;
}

export function createAuthLimits(options: AuthLimitsOptions = {}): AuthLimits {
  const now = options.now ?? Date.now;
  const failures: RateLimiter = createRateLimiter(options.failures ?? DEFAULT_FAILURE_POLICY, now);
  const registrations: RateLimiter = createRateLimiter(options.registrations ?? DEFAULT_REGISTRATION_POLICY, now);
  const metrics = metricsFor(options.registry);
  return {
    assertNotBlocked(source) {
      const state = failures.check(source);
      if (state.ok) return;
      metrics.limited.inc({ limit: 'auth_failures' });
      throw tooMany('failed authentications', state.retryAfterSeconds);
    },
    failed(source, surface) {
      metrics.failures.inc({ surface });
      failures.take(source);
    },
    registration(source) {
      const taken = registrations.take(source);
      if (taken.ok) return;
      metrics.limited.inc({ limit: 'agent_registrations' });
      throw tooMany('agent registrations', taken.retryAfterSeconds);
    },
  };
}

/** The Retry-After seconds of a rate-limit error, if it is one. */
export function retryAfterOf(error: ForgeError): number | undefined {
  if (error.code !== 'E_RATE_LIMITED') return undefined;
  const seconds = (error.details as { retryAfterSeconds?: unknown } | undefined)?.retryAfterSeconds;
  return typeof seconds === 'number' ? seconds : undefined;
}
