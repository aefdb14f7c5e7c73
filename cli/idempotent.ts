// Which CLI requests may be sent again to another replica after one may have seen
// them (cli/client.ts fails over between the URLs of FORGE_URL / --url). A request
// that never reached a server (connection refused, connect timeout) can always go
// to the next URL; this decides the rest: a reply that never came, or a 5xx.

import type { HttpMethod } from './client.ts';

/**
 * POST routes that are idempotent by design, so sending one twice leaves what sending it
 * once leaves:
 * - /api/v1/apply: declares the whole set of services of a source; the same set again is a no-op.
 * - /api/compute/services/NAME/start and /stop: set the desired state, they do not toggle it.
 * - /api/v1/agents/ID/revoke: a revoked agent stays revoked.
 * Not here, on purpose: creating a service (a second one answers 409), deploy, restart (each
 * is a new rollout), rollback (without `to` it steps back once per call), run and job
 * trigger (each starts a run).
 */
const IDEMPOTENT_POSTS: readonly RegExp[] = [
  /^\/api\/v1\/apply(\?|$)/,
  /^\/api\/compute\/services\/[^/?]+\/(start|stop)(\?|$)/,
  /^\/api\/v1\/agents\/[^/?]+\/revoke(\?|$)/,
];

/**
 * GET, HEAD, PUT and DELETE are idempotent by HTTP's definition (and Forge's routes keep
 * to it). PATCH is not retried: it is not idempotent in HTTP's terms, and a repeated
 * secrets or image PATCH could make one release too many.
 */
export function isIdempotent(method: HttpMethod | 'HEAD', path: string): boolean {
  if (method === 'GET' || method === 'HEAD' || method === 'PUT' || method === 'DELETE') return true;
  if (method === 'POST') return IDEMPOTENT_POSTS.some((pattern) => pattern.test(path));
  return false;
}
