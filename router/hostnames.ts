// Which service's route answers a hostname. The API refuses a write that claims
// another service's hostname, but rows written before that check (or by hand) can
// still collide, and Caddy answers with the first matching route. So the table is
// built by ownership, not by name order: `<name>.<domain>` always belongs to service
// `name`, and an extra domain claimed by several stays with the one that had it first
// in the table. Pure.

import type { ServiceRoute } from './service-routes.ts';

export interface OwnedRoute extends ServiceRoute {
  name: string;
}

/** The table's entries sorted by name, each with only the extra domains it owns. `table` is in claim order. */
export function ownedRouteTable(table: ReadonlyMap<string, ServiceRoute>, domain: string): OwnedRoute[] {
  const owner = new Map<string, string>();
  for (const name of table.keys()) owner.set(`${name}.${domain}`.toLowerCase(), name);
  for (const [name, route] of table) {
    for (const host of route.domains) {
      const key = host.toLowerCase();
      if (!owner.has(key)) owner.set(key, name);
    }
  }
  return [...table]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, route]) => ({ name, domains: route.domains.filter((host) => owner.get(host.toLowerCase()) === name), upstreams: route.upstreams }));
}
