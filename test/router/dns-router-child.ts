// A control plane's router in a process of its own, so a test can SIGKILL it:
// the upstream source (the DNS sidecar, or with `in-process` the responder inside
// this process), and the service router writing one route into a test caddy.
// Sends `{ notice, pid }` over IPC once the route is in effect; then `{ set: [...] }`
// publishes new upstreams (answered `{ done: true }`), `stop` is a clean stop.
// usage: dns-router-child.ts sidecar|in-process DATA_DIR DNS_ADDR CADDY_ADMIN HTTP_ADDR SERVICE UPSTREAM

import { CaddyClient } from '../../router/caddy-client.ts';
import { forgeServerConfig } from '../../router/caddy-config.ts';
import { createServiceRouter } from '../../router/service-routes.ts';
import { startUpstreamSource } from '../../router/upstream-source.ts';

const [mode, dataDir, dnsAddr, admin, httpAddr, service, upstream] = process.argv.slice(2) as [string, string, string, string, string, string, string];
const source = await startUpstreamSource({ env: { FORGE_DNS_ADDR: dnsAddr }, ...(mode === 'sidecar' ? { dataDir } : {}) });
if (!source.options) throw new Error(`no DNS upstreams: ${source.notice}`);
const client = new CaddyClient({ admin, server: 'forge', serverTemplate: forgeServerConfig({ httpAddr, domain: 'localhost' }) });
const router = createServiceRouter({ client, domain: 'localhost', dns: source.options });
router.replaceAll(new Map());
await router.set(service, { domains: [], upstreams: [upstream] });
const pid = (source.responder as { pid?: number } | undefined)?.pid ?? process.pid;
process.send?.({ notice: source.notice, pid });
process.on('message', async (message: unknown) => {
  if (message === 'stop') {
    await source.stop();
    process.exit(0);
  }
  const set = (message as { set?: string[] }).set;
  if (set) {
    await router.set(service, { domains: [], upstreams: set });
    process.send?.({ done: true });
  }
});
