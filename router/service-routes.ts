// The route table Forge wants in Caddy, one entry per service, and the level-
// triggered push of the whole table: every sync reads Caddy's live config once
// and corrects what differs, so a Caddy restarted empty or a route edited by hand
// is put right by the next sync.

import type { CaddyClient } from './caddy-client.ts';
import { ownedRouteTable } from './hostnames.ts';
import { desiredRoute } from './routes.ts';
import { reconcileRoutes } from './reconcile.ts';

export interface ServiceRoute {
  domains: string[];
  upstreams: string[];
}

export interface ServiceRouter {
  /** Sets one service's route and pushes the table; resolves once Caddy has it. */
  set(name: string, route: ServiceRoute): Promise<void>;
  remove(name: string): Promise<void>;
  /**
   * Replaces the whole table without pushing (the resync computes it from desired +
   * observed read at `asOf`). An entry `set` after `asOf` came from fresher state and is kept.
   */
  replaceAll(entries: ReadonlyMap<string, ServiceRoute>, asOf?: number): void;
  /** Pushes the whole table (the resync). */
  sync(): Promise<{ added: string[]; updated: string[]; removed: string[] }>;
  /** The upstreams Forge last asked for (for status and tests). */
  get(name: string): ServiceRoute | undefined;
  url(name: string): string;
}

export function createServiceRouter(options: { client: CaddyClient; domain: string; publicPort?: number | null; scheme?: string }): ServiceRouter {
  const table = new Map<string, ServiceRoute>();
  const setAt = new Map<string, number>();
  let chain: Promise<unknown> = Promise.resolve();
  // Until the first full table arrives, pushing would delete the routes of
  // services not reconciled yet (a restarted control plane): hold pushes until then.
  let primed = false;

  // Pushes are serialized: two reconciles of the same Caddy config at once would race.
  function push() {
    if (!primed) return Promise.resolve({ added: [], updated: [], removed: [], createdServer: false });
    // Ownership, not name order, decides which route gets a contested hostname (hostnames.ts).
    const run = chain.then(() => reconcileRoutes(options.client, ownedRouteTable(table, options.domain)
      .map((entry) => desiredRoute({ ...entry, domain: options.domain }))));
    chain = run.catch(() => undefined);
    return run;
  }

  const same = (a: ServiceRoute | undefined, b: ServiceRoute) =>
    a !== undefined && a.upstreams.join(',') === b.upstreams.join(',') && a.domains.join(',') === b.domains.join(',');

  return {
    async set(name, route) {
      const next = { domains: [...route.domains].sort(), upstreams: [...route.upstreams].sort() };
      setAt.set(name, Date.now());
      if (same(table.get(name), next)) return;
      table.set(name, next);
      await push();
    },
    async remove(name) {
      setAt.delete(name);
      if (!table.delete(name)) return;
      await push();
    },
    replaceAll(entries, asOf = Number.POSITIVE_INFINITY) {
      const fresher = (name: string) => (setAt.get(name) ?? -1) > asOf;
      for (const name of [...table.keys()]) if (!entries.has(name) && !fresher(name)) table.delete(name);
      for (const [name, route] of entries) {
        if (!fresher(name)) table.set(name, { domains: [...route.domains].sort(), upstreams: [...route.upstreams].sort() });
      }
      primed = true;
    },
    sync: () => push(),
    get: (name) => table.get(name),
    url(name) {
      const scheme = options.scheme ?? 'http';
      const port = options.publicPort && ![80, 443].includes(options.publicPort) ? `:${options.publicPort}` : '';
      return `${scheme}://${name}.${options.domain}${port}`;
    },
  };
}
