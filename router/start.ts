// Routing for `forge server` and `forge dev`: use the caddy the operator runs at
// FORGE_CADDY_ADMIN, or start and supervise a managed caddy when the binary is there
// and its admin address is free (admin on loopback, our server on FORGE_HTTP_ADDR),
// or run without routes and say why. caddy-choice.ts decides; this file gathers the
// facts and acts. Forge works without caddy; URLs then change on redeploy.

import { join } from 'node:path';
import { ForgeError } from '../errors/index.ts';
import { adminSocketPath, managedAdminSocket } from './admin-address.ts';
import { chooseCaddy, type CaddyFacts, type RouterMode } from './caddy-choice.ts';
import { CaddyClient, DEFAULT_CADDY_ADMIN, DEFAULT_CADDY_SERVER, DEFAULT_HTTP_ADDR_DEVELOPMENT, DEFAULT_HTTP_ADDR_PRODUCTION } from './caddy-client.ts';
import { forgeServerConfig, listenPort } from './caddy-config.ts';
import { isLoopbackHost, probeAdminAddress, splitHostPort } from './caddy-probe.ts';
import { findCaddy, managedCaddyPaths, startManagedCaddy, type ManagedCaddy } from './managed-caddy.ts';
import { createServiceRouter, type DnsUpstreamOptions, type ServiceRouter } from './service-routes.ts';
import { startUpstreamSource } from './upstream-source.ts';
import type { UpstreamDns } from './upstream-dns.ts';
import { leftBehindCaddy } from './stale-caddy.ts';
import { stopStaleSidecar } from './dns-sidecar.ts';

type Env = Readonly<Record<string, string | undefined>>;

export interface Routing {
  router?: ServiceRouter;
  caddy?: ManagedCaddy;
  /** Forge's upstream DNS responder, when it runs (routes then name services, not instances). */
  upstreamDns?: UpstreamDns;
  /** What the operator should know: where traffic enters, or why there are no routes. */
  notice: string;
  stop(): Promise<void>;
}

export interface RoutingOptions {
  env: Env;
  dataDir: string;
  domain: string;
  production: boolean;
  /**
   * `external` uses the caddy at FORGE_CADDY_ADMIN (the default when one answers there);
   * `managed` starts caddy with its admin API at FORGE_CADDY_ADMIN, refused when another
   * process holds that address; `off` routes nothing. Unset: chooseCaddy() decides.
   */
  mode?: RouterMode;
  /**
   * Admin address for a managed caddy (host:port on loopback, or `unix//path`); default: FORGE_CADDY_ADMIN
   * when set, else a Unix socket in a 0700 dir under the data dir (admin-address.ts).
   */
  adminAddr?: string;
  /** Caddy's refresh of the DNS upstream answer (ms); default 1000. */
  dnsRefreshMs?: number;
}

/** `http://127.0.0.1:2019`, `127.0.0.1:2019` or nothing → the `host:port` a managed caddy's admin API listens on. */
export function adminListenAddress(value: string | undefined): string {
  const text = value?.trim();
  if (!text) return '127.0.0.1:2019';
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? new URL(text).host : text;
}

export async function startRouting(options: RoutingOptions): Promise<Routing> {
  const env = options.env;
  const httpAddr = env.FORGE_HTTP_ADDR?.trim() || (options.production ? DEFAULT_HTTP_ADDR_PRODUCTION : DEFAULT_HTTP_ADDR_DEVELOPMENT);
  const server = env.FORGE_CADDY_SERVER?.trim() || DEFAULT_CADDY_SERVER;
  const template = forgeServerConfig({ httpAddr, domain: options.domain });
  const port = listenPort(httpAddr);
  const none = async () => undefined;

  const choice = chooseCaddy(await caddyFacts(options));
  if (choice.kind === 'refuse') throw new ForgeError('E_CONFLICT', choice.message, { terminal: true });
  if (choice.kind === 'off') {
    await stopStaleSidecar(options.dataDir).catch(() => null);
    return { notice: choice.why, stop: none };
  }
  // Upstreams as DNS answers (no config load per cutover), or static upstreams when the responder cannot bind.
  const upstreams = await startUpstreamSource({
    env, caddyOnLoopback: choice.kind === 'managed' || adminOnLoopback(choice.admin), dataDir: options.dataDir,
    ...(options.dnsRefreshMs ? { refreshMs: options.dnsRefreshMs } : {}),
  });
  const dns: { dns?: DnsUpstreamOptions } = upstreams.options ? { dns: upstreams.options } : {};
  const upstreamDns = upstreams.responder ? { upstreamDns: upstreams.responder } : {};
  if (choice.kind === 'external') {
    const client = new CaddyClient({ admin: choice.admin, server, serverTemplate: template });
    const router = createServiceRouter({ client, domain: options.domain, publicPort: port, ...dns });
    return {
      router, ...upstreamDns, notice: `routing through the caddy at ${choice.admin}${choice.note} (server ${server}, listening on ${httpAddr}); ${upstreams.notice}`,
      async stop() {
        // The operator's caddy outlives us: leave it static upstreams (one config load),
        // or its lookups would fail until Forge is back. The next start's resync restores DNS upstreams.
        await router.detachDns().catch(() => undefined);
        await upstreams.stop();
      },
    };
  }
  let router: ServiceRouter | undefined;
  let stale = '';
  let caddy: ManagedCaddy;
  try {
    caddy = await startManagedCaddy({
      adminAddr: choice.adminAddr, httpAddr, domain: options.domain, dataDir: options.dataDir, server,
      // A restarted caddy comes back with only the base config: push the route table at once
      // instead of waiting for the next resync.
      onEvent: (event) => {
        if (event.type === 'restarted') void router?.sync().catch(() => undefined);
        if (event.type === 'stopped-stale') stale = ` after stopping the caddy (pid ${event.pid}) an earlier run left behind`;
      },
    });
  } catch (error) {
    await upstreams.stop();
    throw error;
  }
  const client = new CaddyClient({ admin: caddy.adminUrl, server, serverTemplate: template });
  router = createServiceRouter({ client, domain: options.domain, publicPort: port, ...dns });
  return {
    router, caddy, ...upstreamDns,
    notice: `caddy started (pid ${caddy.pid}, admin ${caddy.adminUrl}, log ${join(options.dataDir, 'caddy')})${stale}${choice.note}; services answer at http://<name>.${options.domain}:${port}; ${upstreams.notice}`,
    async stop() {
      await caddy.stop();
      await upstreams.stop();
    },
  };
}

function adminOnLoopback(admin: string): boolean {
  if (adminSocketPath(admin) !== null) return true;
  try {
    return isLoopbackHost(new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(admin) ? admin : `http://${admin}`).hostname.replace(/^\[|\]$/g, ''));
  } catch {
    return false;
  }
}

/** What the choice depends on: the flag, FORGE_CADDY_ADMIN, caddy on PATH, and who holds the admin address. */
async function caddyFacts(options: RoutingOptions): Promise<CaddyFacts> {
  const adminEnv = options.env.FORGE_CADDY_ADMIN?.trim() || undefined;
  // A managed caddy's admin API listens where FORGE_CADDY_ADMIN points (loopback or a socket),
  // else on a socket only Forge can reach: no local process may rewrite its routes.
  const adminAddr = options.adminAddr ?? (adminEnv === undefined ? managedAdminSocket(options.dataDir).address : adminListenAddress(adminEnv));
  const host = splitHostPort(adminAddr)?.host ?? '';
  const probe = options.mode !== 'off' && options.mode !== 'external';
  const holder = probe ? await probeAdminAddress(adminAddr) : 'free';
  const paths = managedCaddyPaths(options.dataDir);
  return {
    ...(options.mode ? { mode: options.mode } : {}),
    ...(adminEnv ? { adminEnv } : {}),
    admin: adminEnv ?? DEFAULT_CADDY_ADMIN,
    adminAddr,
    adminIsLoopback: adminSocketPath(adminAddr) !== null || isLoopbackHost(host),
    caddyOnPath: findCaddy(options.env as NodeJS.ProcessEnv) !== null,
    holder,
    ownLeftBehind: holder !== 'free' && leftBehindCaddy(paths.pidPath, paths.configPath) !== null,
  };
}
