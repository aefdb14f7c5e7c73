// Level-triggered route reconcile: read our server's live config once, diff it
// against the desired forge routes, and apply per-route changes. Each call
// leaves live == desired for forge-owned routes whatever happened before (Caddy
// restarted empty, a route deleted or edited by hand), and touches nothing else.

import { ForgeError } from '../errors/index.ts';
import type { CaddyClient } from './caddy-client.ts';
import { diffRoutes, type CaddyRoute } from './routes.ts';

export interface RouteReconcileResult {
  /** Route ids appended (or created along with the server). */
  added: string[];
  /** Route ids replaced in place. */
  updated: string[];
  /** Route ids deleted (one entry per deleted copy). */
  removed: string[];
  /** True when our server was absent and has been created. */
  createdServer: boolean;
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
