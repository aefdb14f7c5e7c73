// Which replies from one replica are worth asking another replica for (several `FORGE_URL`s).
// Only the ones that say "this replica cannot serve": no answer at all (decided by the sender),
// or 503 (shutting down, its database away, its leadership fenced: E_FENCED). Another 5xx that
// carries a Forge error code is a real answer from a live replica (say 502 E_REGISTRY_UNAVAILABLE
// after it spent up to 20 s resolving an image): asking every other replica the same question
// would only repeat the wait. A 5xx without one (a proxy's "bad gateway" page) is not Forge's
// answer, so the next replica is tried.

import type { AttemptOutcome } from '../net/failover.ts';

/** Codes the API sends without the E_ prefix (api/compat.ts). */
const UNPREFIXED = new Set(['COMPUTE_NOT_CONFIGURED', 'COMPUTE_REGION_CHANGE_NOT_SUPPORTED']);

/** Whether a reply body is a Forge error body (`{ error: "E_…" }`). */
export function carriesForgeCode(body: string): boolean {
  try {
    const error = (JSON.parse(body) as { error?: unknown } | null)?.error;
    return typeof error === 'string' && (/^E_[A-Z_]+$/.test(error) || UNPREFIXED.has(error));
  } catch {
    return false;
  }
}

/** How a reply ends one attempt. `body` is needed (read) only for a 5xx other than 503. */
export function replyOutcome(status: number, body?: string): AttemptOutcome {
  if (status < 500) return 'answered';
  if (status === 503) return 'server-error';
  return body !== undefined && carriesForgeCode(body) ? 'answered' : 'server-error';
}

/** Whether replyOutcome needs the body to decide. */
export const needsBody = (status: number): boolean => status >= 500 && status !== 503;
