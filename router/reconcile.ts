// Level-triggered route reconcile: read our server's live config once, diff it
// against the desired forge routes, and apply per-route changes. Each call
// leaves live == desired whatever happened before (Caddy restarted empty, a
// route deleted or edited by hand). Forge's server is Forge's alone: a route in
// it that Forge did not put there (an app that reached the admin API could have
// sent `victim.localhost` anywhere) is removed, and the result names it so the
// caller can record an event. Other servers and apps of the Caddy are untouched.

import { ForgeError } from '../errors/index.ts';
import type { CaddyClient } from './caddy-client.ts';
import { diffRoutes, isForgeRouteId, type CaddyRoute } from './routes.ts';

export interface RouteReconcileResult {
  /** Route ids appended (or created along with the server). */
  added: string[];
  /** Route ids replaced in place. */
  updated: string[];
  /** Route ids deleted (one entry per deleted copy). */
  removed: string[];
  /** True when our server was absent and has been created. */
  createdServer: boolean;
  /** Routes in our server Forge did not put there, now removed (only present when there were some). */
  foreign?: ForeignRoute[];
}

export interface ForeignRoute {
  /** Its @id, when it had one. */
  id?: string;
  /** The hosts it matched. */
  hosts: string[];
}

/** What a foreign route claimed, for the event that says it was removed. */
export function describeForeign(route: CaddyRoute): ForeignRoute {
  const hosts = (route.match ?? []).flatMap((m) => (Array.isArray(m.host) ? m.host.filter((h): h is string => typeof h === 'string') : []));
  return typeof route['@id'] === 'string' ? { id: route['@id'], hosts } : { hosts };
}

export async function reconcileRoutes(client: CaddyClient, desired: readonly CaddyRoute[]): Promise<RouteReconcileResult> {
  const result: RouteReconcileResult = { added: [], updated: [], removed: [], createdServer: false };
  let live = await client.readServer();
  if (live === null) {
    // Validate the desired set (ids, repeats) before creating anything.
    const diff = diffRoutes(desired, []);
    if (await client.ensureServer(diff.add)) {
      return { ...result, added: diff.add.map(idOf), createdServer: true };
    }
    // Someone else created it between our read and write: reconcile against theirs.
    live = await client.readServer();
    if (live === null) {
      throw new ForgeError('E_PROVIDER', `caddy server '${client.server}' keeps disappearing at ${client.admin}; will retry`);
    }
  }

  const liveRoutes = Array.isArray(live.routes) ? live.routes : [];
  const foreign = liveRoutes.filter((r) => !isForgeRouteId(r['@id']));
  if (foreign.length > 0) {
    // Routes without an @id cannot be deleted one by one safely (indexes shift):
    // write the whole list as Forge wants it, in one change.
    const wanted = diffRoutes(desired, []).add;
    const before = diffRoutes(desired, liveRoutes);
    await client.replaceRoutes(wanted);
    return {
      added: before.add.map(idOf).filter((id) => !before.remove.includes(id)),
      updated: [...before.put.map(idOf), ...before.add.map(idOf).filter((id) => before.remove.includes(id))],
      removed: before.remove.filter((id) => !wanted.some((r) => idOf(r) === id)),
      createdServer: false,
      foreign: foreign.map(describeForeign),
    };
  }
  const diff = diffRoutes(desired, liveRoutes);

  for (const id of diff.remove) {
    // Already gone is fine: the goal is absence.
    await client.deleteRoute(id);
    result.removed.push(id);
  }

  const toAppend: CaddyRoute[] = [...diff.add];
  for (const route of diff.put) {
    const id = idOf(route);
    // Replacing in place keeps the route's position; if it vanished since the read, append it.
    if (await client.replaceRoute(id, route)) result.updated.push(id);
    else toAppend.push(route);
  }

  if (toAppend.length > 0) {
    if (Array.isArray(live.routes)) await client.appendRoutes(toAppend);
    else await client.createRoutes(toAppend);
    result.added.push(...toAppend.map(idOf));
  }
  return result;
}

function idOf(route: CaddyRoute): string {
  return String(route['@id']);
}
