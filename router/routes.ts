// Pure route decisions: what Caddy route a service should have, and which
// per-route changes turn Caddy's live route list into the desired one. Forge's
// routes carry an `@id` starting with `forge-`; any other route found in Forge's
// server is foreign and removed by reconcile.ts (diffRoutes itself only plans
// the forge-owned ones).

import { ForgeError } from '../errors/index.ts';
import { dnsProxyHandler, type DnsUpstreamSource } from './dns-records.ts';

export const FORGE_ROUTE_PREFIX = 'forge-';

/** A Caddy HTTP route as JSON. Only the fields Forge reads are typed. */
export interface CaddyRoute {
  '@id'?: string;
  match?: Array<Record<string, unknown>>;
  handle?: Array<Record<string, unknown>>;
  terminal?: boolean;
  [key: string]: unknown;
}

export interface DesiredRouteInput {
  /** Service name (a DNS label): the route id is `forge-<name>`. */
  name: string;
  /** Base domain (FORGE_DOMAIN): the service answers at `<name>.<domain>`. */
  domain: string;
  /** Extra host names from the spec's `domains`. */
  domains?: readonly string[];
  /** `host:port` of each healthy instance. Empty → the route answers 503. */
  upstreams: readonly string[];
  /**
   * Upstreams come from Forge's DNS responder (router/upstream-dns.ts): the route
   * names the service, not its instances, and `upstreams` is not written into it.
   */
  dns?: DnsUpstreamSource;
}

export function routeId(name: string): string {
  return `${FORGE_ROUTE_PREFIX}${name}`;
}

export function isForgeRouteId(id: unknown): id is string {
  return typeof id === 'string' && id.startsWith(FORGE_ROUTE_PREFIX);
}

/** The service's primary host first, then its extra domains sorted, lowercased and without repeats. */
export function routeHosts(name: string, domain: string, domains: readonly string[] = []): string[] {
  const primary = `${name}.${domain}`.toLowerCase();
  const extra = [...new Set(domains.map((d) => d.toLowerCase()))].filter((d) => d !== primary).sort();
  return [primary, ...extra];
}

/**
 * The one route a service owns. Upstreams are sorted and de-duplicated so the
 * same set of instances always yields the same JSON (no spurious updates when
 * the provider lists instances in another order). With no healthy upstream the
 * route answers 503 itself rather than proxying to nothing (which would be a
 * slow 502 per request).
 */
export function desiredRoute(input: DesiredRouteInput): CaddyRoute {
  const upstreams = [...new Set(input.upstreams)].sort();
  const handler: Record<string, unknown> = input.dns
    ? dnsProxyHandler(input.name, input.dns)
    : upstreams.length === 0
      ? {
          handler: 'static_response',
          status_code: 503,
          headers: { 'Content-Type': ['text/plain; charset=utf-8'], 'Retry-After': ['5'] },
          body: `${input.name}: no healthy instance\n`,
        }
      : {
          handler: 'reverse_proxy',
          upstreams: upstreams.map((dial) => ({ dial })),
          // Round robin spreads replicas evenly; try_duration retries another
          // upstream when one refuses a connection (an instance that just died)
          // instead of answering 502 at once.
          load_balancing: { selection_policy: { policy: 'round_robin' }, try_duration: '2s' },
        };
  return {
    '@id': routeId(input.name),
    match: [{ host: routeHosts(input.name, input.domain, input.domains) }],
    handle: [handler],
    terminal: true,
  };
}

export interface RouteDiff {
  /** Routes that exist once in live but differ: replace through `/id/<id>`. */
  put: CaddyRoute[];
  /** Routes missing from live (or re-added after removing duplicates): append. */
  add: CaddyRoute[];
  /**
   * Ids of forge-owned live routes to delete, once per live copy: routes not
   * desired, and every copy of an id that appears more than once (Caddy 2.6
   * accepts duplicate ids, and `/id/` then reaches only one of them).
   */
  remove: string[];
}

export function diffRoutes(desired: readonly CaddyRoute[], live: readonly CaddyRoute[]): RouteDiff {
  const desiredById = new Map<string, CaddyRoute>();
  for (const route of desired) {
    const id = route['@id'];
    if (!isForgeRouteId(id)) {
      throw new ForgeError('E_INTERNAL', `desired route id must start with '${FORGE_ROUTE_PREFIX}', got ${JSON.stringify(id)}`);
    }
    if (desiredById.has(id)) throw new ForgeError('E_INTERNAL', `desired routes repeat the id '${id}'`);
    desiredById.set(id, route);
  }

  const liveById = new Map<string, CaddyRoute[]>();
  for (const route of live) {
    const id = route['@id'];
    if (!isForgeRouteId(id)) continue;
    const copies = liveById.get(id);
    if (copies) copies.push(route);
    else liveById.set(id, [route]);
  }

  const diff: RouteDiff = { put: [], add: [], remove: [] };
  for (const [id, route] of desiredById) {
    const copies = liveById.get(id) ?? [];
    const [only] = copies;
    if (only === undefined) diff.add.push(route);
    else if (copies.length > 1) {
      for (let i = 0; i < copies.length; i += 1) diff.remove.push(id);
      diff.add.push(route);
    } else if (!sameJson(only, route)) diff.put.push(route);
  }
  for (const [id, copies] of liveById) {
    if (desiredById.has(id)) continue;
    for (let i = 0; i < copies.length; i += 1) diff.remove.push(id);
  }
  return diff;
}

export function isEmptyDiff(diff: RouteDiff): boolean {
  return diff.put.length === 0 && diff.add.length === 0 && diff.remove.length === 0;
}

/** Equality of JSON values regardless of object key order (Caddy returns keys sorted). */
export function sameJson(a: unknown, b: unknown): boolean {
  return canonicalJson(a) === canonicalJson(b);
}

export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined) out[key] = sortKeys(v);
    }
    return out;
  }
  return value;
}
