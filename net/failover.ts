// Several control-plane replicas, one list of URLs: which URL a client (the agent's
// protocol client, the CLI) tries next, given how its last attempt ended. Pure; the
// clients do the I/O. A client stays on the URL that works (sticky) and moves round
// the list only when a replica is unreachable or answers 5xx; each request tries each
// URL at most once, so a control plane that is down everywhere still fails fast.

/** How one attempt against one URL ended. */
export type AttemptOutcome =
  /** A reply below 500 (4xx included: the replica works, the request was wrong). */
  | 'answered'
  /** The connection was never made (refused, no route, DNS, connect timeout): no server saw the request. */
  | 'not-sent'
  /** Sent, then no reply (reset, reply timeout): a server may have acted on it. */
  | 'no-reply'
  /** A 5xx reply: the replica is in trouble (its database link, shutting down). */
  | 'server-error';

export interface FailoverStep {
  /** Index of the URL the next request (or the retry of this one) uses. */
  next: number;
  /** Whether this request is tried again, on `next`. */
  retry: boolean;
}

/**
 * @param count     URLs in the list
 * @param current   index of the URL just tried
 * @param outcome   how that attempt ended
 * @param attempts  attempts this request has made so far, this one included
 * @param idempotent whether repeating the request elsewhere is harmless after a server may have seen it
 */
export function failoverStep(count: number, current: number, outcome: AttemptOutcome, attempts: number, idempotent: boolean): FailoverStep {
  if (outcome === 'answered' || count <= 0) return { next: current, retry: false };
  const next = (current + 1) % count;
  // A request no server saw can go anywhere; one a server may have seen only when repeating it is harmless.
  const safe = outcome === 'not-sent' || idempotent;
  return { next, retry: safe && attempts < count };
}

/** `a, b/,c` → ['a', 'b', 'c']: a comma-separated list of base URLs, trailing slashes dropped, empties and repeats skipped. */
export function splitServerList(text: string): string[] {
  const out: string[] = [];
  for (const part of text.split(',')) {
    const url = part.trim().replace(/\/+$/, '');
    if (url !== '' && !out.includes(url)) out.push(url);
  }
  return out;
}

/** Error codes of a connection that was never made: the request cannot have reached a server. */
const NOT_CONNECTED = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EADDRNOTAVAIL', 'UND_ERR_CONNECT_TIMEOUT', 'ECONNECT_TIMEOUT']);

/** A network error's code (node:http puts it on the error, fetch on its cause) → whether the request was never sent. */
export function neverSent(error: unknown): boolean {
  let e = error as { code?: unknown; cause?: unknown } | undefined;
  for (let depth = 0; e && depth < 4; depth++) {
    if (typeof e.code === 'string' && NOT_CONNECTED.has(e.code)) return true;
    e = e.cause as typeof e;
  }
  return false;
}
