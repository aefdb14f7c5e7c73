// Where Caddy's admin API is reached. Caddy's own syntax for a Unix socket,
// `unix//abs/path.sock`, is accepted wherever an admin address is (the managed
// caddy's `admin.listen`, FORGE_CADDY_ADMIN); anything else is a TCP address or
// an http:// URL. A managed caddy listens on a socket in a 0700 dir under the
// data dir by default: the admin API has no authentication, and a TCP port on
// loopback answers every local process, a socket only those that can enter the dir.

import { join } from 'node:path';

const UNIX_PREFIX = 'unix/';

/** The socket path of a `unix//path` admin address, or null for a TCP address or URL. */
export function adminSocketPath(admin: string): string | null {
  const text = admin.trim();
  if (!text.startsWith(UNIX_PREFIX)) return null;
  const socketPath = text.slice(UNIX_PREFIX.length);
  return socketPath.startsWith('/') ? socketPath : null;
}

/** The dir (made 0700) and the `unix//…` admin address of the managed caddy of a data dir. */
export function managedAdminSocket(dataDir: string): { dir: string; address: string } {
  const dir = join(dataDir, 'caddy', 'admin');
  return { dir, address: `${UNIX_PREFIX}${join(dir, 'admin.sock')}` };
}
