// Who holds a Caddy admin address, asked before Forge starts a caddy of its own
// there: nobody, a caddy (its admin API answers GET /config/), or some other
// process. Caddy can share a listening port with another caddy, so trying to bind
// would not tell: a managed caddy would start "fine" beside the operator's and the
// two would split the admin traffic between them.

import { accepts } from '../net/port-accepts.ts';
import { adminSocketPath } from './admin-address.ts';
import { CaddyClient } from './caddy-client.ts';

export type AdminHolder = 'free' | 'caddy' | 'other';

/** `127.0.0.1:2019` / `[::1]:2019` / `localhost:2019` → host and port to connect to. */
export function splitHostPort(addr: string): { host: string; port: number } | null {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(addr.trim());
  if (!m) return null;
  const port = Number(m[3]);
  if (port < 1 || port > 65_535) return null;
  return { host: m[1] ?? (m[2] || '127.0.0.1'), port };
}

/** Loopback names and addresses: the only places a managed caddy's admin API may listen. */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host);
}

/** Who listens at `addr` (host:port or `unix//path`). An address that cannot be parsed counts as free. */
export async function probeAdminAddress(addr: string, timeoutMs = 1_000): Promise<AdminHolder> {
  const socketPath = adminSocketPath(addr);
  const target = socketPath === null ? splitHostPort(addr) : { path: socketPath };
  if (target === null || !(await accepts(target, timeoutMs))) return 'free';
  const client = new CaddyClient({ admin: socketPath === null ? `http://${addr}` : addr, timeoutMs });
  return client.ping().then(() => 'caddy' as const, () => 'other' as const);
}
