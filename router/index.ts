// The router room's public surface: Caddy Admin API client, pure route
// decisions, the level-triggered route reconcile and a managed caddy.

export {
  CaddyClient,
  caddyClientFromEnv,
  DEFAULT_CADDY_ADMIN,
  DEFAULT_CADDY_SERVER,
  DEFAULT_HTTP_ADDR_DEVELOPMENT,
  DEFAULT_HTTP_ADDR_PRODUCTION,
  type CaddyClientOptions,
} from './caddy-client.ts';
export {
  forgeServerConfig,
  isLocalDomain,
  managedCaddyConfig,
  listenPort,
  type CaddyServerConfig,
  type ForgeServerOptions,
  type ManagedCaddyConfigOptions,
} from './caddy-config.ts';
export {
  canonicalJson,
  desiredRoute,
  diffRoutes,
  FORGE_ROUTE_PREFIX,
  isEmptyDiff,
  isForgeRouteId,
  routeHosts,
  routeId,
  sameJson,
  type CaddyRoute,
  type DesiredRouteInput,
  type RouteDiff,
} from './routes.ts';
export { reconcileRoutes, type RouteReconcileResult } from './reconcile.ts';
export {
  CADDY_INSTALL_HINT,
  findCaddy,
  startManagedCaddy,
  type ManagedCaddy,
  type ManagedCaddyEvent,
  type ManagedCaddyOptions,
} from './managed-caddy.ts';
