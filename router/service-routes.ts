// The route table Forge wants in Caddy, one entry per service, and the level-
// triggered push of the whole table: every sync reads Caddy's live config once
// and corrects what differs, so a Caddy restarted empty or a route edited by hand
// is put right by the next sync.
//
// With Forge's DNS responder (router/upstream-dns.ts) a route names its service,
// not its instances: a cutover, a scale or a drain only changes the DNS answer and
// Caddy loads no config. Route pushes then happen only when hostnames change.

import type { CaddyClient } from './caddy-client.ts';
import { ownedRouteTable } from './hostnames.ts';
import { desiredRoute, routeHosts } from './routes.ts';
import { reconcileRoutes, type ForeignRoute, type RouteReconcileResult } from './reconcile.ts';
import type { DnsUpstreamSource } from './dns-records.ts';

/** The part of router/upstream-dns.ts the router uses. */
export interface UpstreamPublisher {
  readonly resolverAddress: string;
  publish(service: string, upstreams: readonly string[]): Promise<boolean>;
  remove(service: string): void;
}

export interface DnsUpstreamOptions {
  responder: UpstreamPublisher;
  /** Caddy's refresh of an SRV answer (ms). */
  refreshMs: number;
  /**
   * Extra wait after `refreshMs` before a changed set counts as in effect: a lookup
   * answered just before the publish is cached from when it completed (ms).
   */
  marginMs?: number;
}

export interface ServiceRoute {
  domains: string[];
  upstreams: string[];
}

export interface ServiceRouter {
  /**
   * Sets one service's route; resolves once Caddy routes by it: after the push, or
   * (DNS upstreams) once Caddy's refresh has passed since the set was published,
   * so an instance left out may be stopped after its drain.
   */
  set(name: string, route: ServiceRoute): Promise<void>;
  /**
   * set() without the wait: resolves once the route is pushed and its upstreams published,
   * with how long (ms) until Caddy routes by them (0: already). The reconciler looks again
   * then instead of holding one of its few workers asleep.
   */
  publish(name: string, route: ServiceRoute): Promise<number>;
  remove(name: string): Promise<void>;
  /**
   * Replaces the whole table without pushing (the resync computes it from desired +
   * observed read at `asOf`). An entry `set` after `asOf` came from fresher state and is kept.
   */
  replaceAll(entries: ReadonlyMap<string, ServiceRoute>, asOf?: number): void;
  /** Pushes the whole table (the resync). `foreign`: routes removed from Forge's server that Forge did not put there. */
  sync(): Promise<{ added: string[]; updated: string[]; removed: string[]; foreign?: ForeignRouteRemoved[] }>;
  /**
   * Writes each route's upstreams into Caddy's config again (one load), for while the
   * DNS responder is about to stop: an external Caddy keeps serving the last set while
   * Forge is down instead of failing its lookups. No-op without DNS upstreams.
   */
  detachDns(): Promise<void>;
  /** The upstreams Forge last asked for (for status and tests). */
  get(name: string): ServiceRoute | undefined;
  url(name: string): string;
}

export interface ForeignRouteRemoved extends ForeignRoute {
  /** Services whose hosts the foreign route claimed (their events say so). */
  services: string[];
}

const DEFAULT_MARGIN_MS = 500;

export function createServiceRouter(options: {
  client: CaddyClient; domain: string; publicPort?: number | null; scheme?: string; dns?: DnsUpstreamOptions;
  now?: () => number; sleep?: (ms: number) => Promise<void>;
}): ServiceRouter {
  const table = new Map<string, ServiceRoute>();
  const dns = options.dns;
  let source: DnsUpstreamSource | undefined = dns ? { resolver: dns.responder.resolverAddress, refreshMs: dns.refreshMs } : undefined;
  const settleMs = dns ? dns.refreshMs + (dns.marginMs ?? DEFAULT_MARGIN_MS) : 0;
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  // When each service's last published upstream change is in effect in Caddy.
  const effectiveAt = new Map<string, number>();
  const published = new Set<string>();
  const setAt = new Map<string, number>();
  let chain: Promise<unknown> = Promise.resolve();
  // Until the first full table arrives, pushing would delete the routes of
  // services not reconciled yet (a restarted control plane): hold pushes until then.
  let primed = false;

  // Pushes are serialized: two reconciles of the same Caddy config at once would race.
  function push(): Promise<RouteReconcileResult> {
    if (!primed) return Promise.resolve({ added: [], updated: [], removed: [], createdServer: false });
    // Ownership, not name order, decides which route gets a contested hostname (hostnames.ts).
    const run = chain.then(() => reconcileRoutes(options.client, ownedRouteTable(table, options.domain)
      .map((entry) => desiredRoute({ ...entry, domain: options.domain, ...(source ? { dns: source } : {}) }))));
    chain = run.catch(() => undefined);
    return run;
  }

  const same = (a: ServiceRoute | undefined, b: ServiceRoute) =>
    a !== undefined && a.upstreams.join(',') === b.upstreams.join(',') && a.domains.join(',') === b.domains.join(',');

  /** Publishes a service's upstreams; a change is in effect once Caddy's refresh has passed. */
  async function publish(name: string, upstreams: readonly string[], fresh = false): Promise<void> {
    if (!dns) return;
    published.add(name);
    const changed = await dns.responder.publish(name, upstreams);
    // `fresh`: an empty set for a service the table did not hold (its first reconcile, before
    // any instance runs; a restarted control plane's resync fills the table first). No answer
    // Caddy may hold names an upstream of it, so there is nothing to wait out.
    if (changed && !(fresh && upstreams.length === 0)) effectiveAt.set(name, now() + settleMs);
  }

  function unpublish(name: string): void {
    dns?.responder.remove(name);
    published.delete(name);
    effectiveAt.delete(name);
  }

  /** How long until the last published change of `name` can be in Caddy's hands (ms). */
  const unsettledMs = (name: string): number => Math.max(0, (effectiveAt.get(name) ?? 0) - now());

  async function publishRoute(name: string, route: ServiceRoute): Promise<number> {
    const next = { domains: [...route.domains].sort(), upstreams: [...route.upstreams].sort() };
    setAt.set(name, Date.now());
    const before = table.get(name);
    if (same(before, next)) return unsettledMs(name);
    table.set(name, next);
    try {
      if (!dns || !source) {
        await push();
        return 0;
      }
      // Upstreams go out as DNS answers; the route itself changes only with its hostnames.
      await publish(name, next.upstreams, before === undefined);
      if (before === undefined || before.domains.join(',') !== next.domains.join(',')) await push();
      return unsettledMs(name);
    } catch (error) {
      // Not in Caddy's hands: the next call must try again rather than find it "already set"
      // (and count a service as routed, or start a drain, while Caddy still has the old set).
      if (table.get(name) === next) {
        if (before === undefined) table.delete(name);
        else table.set(name, before);
      }
      throw error;
    }
  }

  return {
    async set(name, route) {
      const wait = await publishRoute(name, route);
      if (wait > 0) await sleep(wait);
    },
    publish: publishRoute,
    async remove(name) {
      setAt.delete(name);
      if (!table.delete(name)) return;
      await push();
      unpublish(name);
    },
    replaceAll(entries, asOf = Number.POSITIVE_INFINITY) {
      const fresher = (name: string) => (setAt.get(name) ?? -1) > asOf;
      for (const name of [...table.keys()]) if (!entries.has(name) && !fresher(name)) table.delete(name);
      for (const [name, route] of entries) {
        if (!fresher(name)) table.set(name, { domains: [...route.domains].sort(), upstreams: [...route.upstreams].sort() });
      }
      primed = true;
    },
    async detachDns() {
      if (!source) return;
      source = undefined;
      await push();
    },
    async sync() {
      // The resync's table may hold upstream changes the reconciles did not make
      // (an instance that died): publish them before the routes that name them.
      for (const [name, route] of table) await publish(name, route.upstreams);
      const { foreign, ...result } = await push();
      // Names of services the table no longer has go only after their routes did.
      for (const name of [...published]) if (!table.has(name)) unpublish(name);
      if (foreign === undefined) return result;
      const claimed = (f: ForeignRoute) => [...table].filter(([name, route]) =>
        routeHosts(name, options.domain, route.domains).some((h) => f.hosts.map((x) => x.toLowerCase()).includes(h))).map(([name]) => name);
      return { ...result, foreign: foreign.map((f) => ({ ...f, services: claimed(f) })) };
    },
    get: (name) => table.get(name),
    url(name) {
      const scheme = options.scheme ?? 'http';
      const port = options.publicPort && ![80, 443].includes(options.publicPort) ? `:${options.publicPort}` : '';
      return `${scheme}://${name}.${options.domain}${port}`;
    },
  };
}
