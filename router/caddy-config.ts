// Pure builders for the Caddy JSON Forge creates: the HTTP server whose routes
// Forge owns, and the whole base config a managed `caddy run` starts from.

import { adminSocketPath } from './admin-address.ts';
import { join } from 'node:path';
import { ForgeError } from '../errors/index.ts';
import type { CaddyRoute } from './routes.ts';

/** The part of a Caddy HTTP server config Forge reads and writes. */
export interface CaddyServerConfig {
  listen?: string[];
  routes?: CaddyRoute[];
  automatic_https?: { disable?: boolean; [key: string]: unknown };
  [key: string]: unknown;
}

export interface ForgeServerOptions {
  /** Plain-HTTP listen address (FORGE_HTTP_ADDR), e.g. `127.0.0.1:8088` or `:80`. */
  httpAddr: string;
  /** HTTPS listen address, used only with a real domain. Default `:443`. */
  httpsAddr?: string;
  /** FORGE_DOMAIN: decides whether automatic HTTPS is on. */
  domain: string;
}

/**
 * A domain for which no public certificate can be issued: `localhost`,
 * `*.localhost`, or an IP literal. Automatic HTTPS is off for these, so the
 * plain-HTTP port serves the routes directly.
 */
export function isLocalDomain(domain: string): boolean {
  const d = domain.toLowerCase().replace(/\.$/, '');
  if (d === 'localhost' || d.endsWith('.localhost')) return true;
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(d)) return true;
  return d.includes(':') || d.startsWith('[');
}

/**
 * Our server, as created when absent. Local domain: HTTP on httpAddr with
 * automatic HTTPS disabled. Real domain: HTTPS on httpsAddr; Caddy's automatic
 * HTTPS obtains certificates for the route hosts and redirects HTTP to HTTPS.
 */
export function forgeServerConfig(options: ForgeServerOptions): CaddyServerConfig {
  if (isLocalDomain(options.domain)) {
    return { listen: [options.httpAddr], routes: [], automatic_https: { disable: true } };
  }
  return { listen: [options.httpsAddr ?? ':443'], routes: [] };
}

export interface ManagedCaddyConfigOptions extends ForgeServerOptions {
  /** Admin API listen address: loopback (`127.0.0.1:2019`) or a Unix socket (`unix//path.sock`). */
  adminAddr: string;
  /** Caddy's storage (certificates, locks) goes under `<dataDir>/caddy`, never $HOME. */
  dataDir: string;
  /** FORGE_CADDY_SERVER: the server name Forge owns. */
  server: string;
}

export function managedCaddyConfig(options: ManagedCaddyConfigOptions): Record<string, unknown> {
  assertLoopback(options.adminAddr);
  const http: Record<string, unknown> = { servers: { [options.server]: forgeServerConfig(options) } };
  if (!isLocalDomain(options.domain)) {
    // Caddy's redirect and ACME HTTP challenge use http_port; keep them on the configured addresses.
    http.http_port = listenPort(options.httpAddr);
    http.https_port = listenPort(options.httpsAddr ?? ':443');
  }
  return {
    // persist:false: the generated file is the base; routes come back from the reconcile, not an autosave.
    admin: { listen: options.adminAddr, config: { persist: false } },
    storage: { module: 'file_system', root: join(options.dataDir, 'caddy', 'storage') },
    apps: { http },
  };
}

/** Port number of a Caddy listen address (`:80`, `127.0.0.1:8088`, `[::1]:8088`). */
export function listenPort(addr: string): number {
  const match = /:(\d+)$/.exec(addr);
  const port = match?.[1] === undefined ? Number.NaN : Number(match[1]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new ForgeError('E_USAGE', `listen address '${addr}' has no valid port (expected host:port or :port)`);
  }
  return port;
}

export function assertLoopback(addr: string): void {
  // A Unix socket is reachable only through its dir's permissions (admin-address.ts).
  if (adminSocketPath(addr) !== null) return;
  listenPort(addr);
  const host = addr.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  const loopback = host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
  if (!loopback) {
    throw new ForgeError('E_USAGE', `caddy admin address '${addr}' must be on loopback (127.0.0.1, ::1 or localhost): the admin API has no authentication`);
  }
}
