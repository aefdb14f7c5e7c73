// Routing for `forge server` and `forge dev`: start and supervise a managed caddy
// when the binary is there (admin on loopback, our server on FORGE_HTTP_ADDR),
// or use a caddy the operator runs (FORGE_CADDY_ADMIN), or run without routes
// and say how to get them. Forge works without caddy; URLs then change on redeploy.

import { join } from 'node:path';
import { CaddyClient, DEFAULT_CADDY_SERVER, DEFAULT_HTTP_ADDR_DEVELOPMENT, DEFAULT_HTTP_ADDR_PRODUCTION } from './caddy-client.ts';
import { forgeServerConfig, listenPort } from './caddy-config.ts';
import { CADDY_INSTALL_HINT, findCaddy, startManagedCaddy, type ManagedCaddy } from './managed-caddy.ts';
import { createServiceRouter, type ServiceRouter } from './service-routes.ts';

type Env = Readonly<Record<string, string | undefined>>;

export interface Routing {
  router?: ServiceRouter;
  caddy?: ManagedCaddy;
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
   * `managed` starts caddy (the default when the binary exists) with its admin API at
   * FORGE_CADDY_ADMIN; `external` uses a caddy the operator runs there; `off` routes nothing.
   */
  mode?: 'managed' | 'external' | 'off';
  /** Admin address for a managed caddy; default 127.0.0.1:2019. */
  adminAddr?: string;
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
  const mode = options.mode ?? (findCaddy(env as NodeJS.ProcessEnv) ? 'managed' : 'off');
  const none = async () => undefined;

  if (mode === 'off') {
    const why = findCaddy(env as NodeJS.ProcessEnv) ? 'routing is off (--router off)' : CADDY_INSTALL_HINT;
    return { notice: `no router: ${why}. Services answer at their instances' direct addresses, which change on redeploy.`, stop: none };
  }
  if (mode === 'external') {
    const admin = env.FORGE_CADDY_ADMIN?.trim() || 'http://127.0.0.1:2019';
    const client = new CaddyClient({ admin, server, serverTemplate: template });
    const router = createServiceRouter({ client, domain: options.domain, publicPort: port });
    return { router, notice: `routing through the caddy at ${admin} (server ${server}, listening on ${httpAddr})`, stop: none };
  }
  // A managed caddy's admin API listens where FORGE_CADDY_ADMIN points (loopback only).
  const adminAddr = options.adminAddr ?? adminListenAddress(env.FORGE_CADDY_ADMIN);
  let router: ServiceRouter | undefined;
  let stale = '';
  const caddy = await startManagedCaddy({
    adminAddr, httpAddr, domain: options.domain, dataDir: options.dataDir, server,
    // A restarted caddy comes back with only the base config: push the route table at once
    // instead of waiting for the next resync.
    onEvent: (event) => {
      if (event.type === 'restarted') void router?.sync().catch(() => undefined);
      if (event.type === 'stopped-stale') stale = ` after stopping the caddy (pid ${event.pid}) an earlier run left behind`;
    },
  });
  const client = new CaddyClient({ admin: caddy.adminUrl, server, serverTemplate: template });
  router = createServiceRouter({ client, domain: options.domain, publicPort: port });
  return {
    router, caddy,
    notice: `caddy started (pid ${caddy.pid}, log ${join(options.dataDir, 'caddy')})${stale}; services answer at http://<name>.${options.domain}:${port}`,
    async stop() {
      await caddy.stop();
    },
  };
}
