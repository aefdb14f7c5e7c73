// Where Caddy gets a service's instances from: Forge's DNS responder at
// FORGE_DNS_ADDR (default 127.0.0.1:5380; `off` disables it). With a data dir the
// answers come from a sidecar process (router/dns-sidecar.ts) that outlives a
// crashed control plane; where it cannot be spawned, from a responder inside this
// process (a crash then fails Caddy's lookups until Forge is back). When it is off
// or cannot bind, static upstreams written into each route (every cutover is then a
// Caddy config load, which closes idle keep-alive connections). The notice says which.

import { DEFAULT_DNS_REFRESH_MS } from './dns-records.ts';
import type { DnsUpstreamOptions } from './service-routes.ts';
import { startDnsSidecar, stopStaleSidecar } from './dns-sidecar.ts';
import { startUpstreamDns, type UpstreamDns } from './upstream-dns.ts';

export const DEFAULT_DNS_ADDR = '127.0.0.1:5380';

export interface UpstreamSource {
  /** Set when the responder runs: the router publishes upstreams through it. */
  options?: DnsUpstreamOptions;
  responder?: UpstreamDns;
  notice: string;
  stop(): Promise<void>;
}

export async function startUpstreamSource(input: {
  env: Readonly<Record<string, string | undefined>>;
  /** Whether caddy runs on this host (its admin API on loopback): only then can it reach a loopback responder. */
  caddyOnLoopback?: boolean;
  refreshMs?: number;
  /** Where the sidecar keeps its records and pid file; without it the responder runs in this process. */
  dataDir?: string;
}): Promise<UpstreamSource> {
  const addr = input.env.FORGE_DNS_ADDR?.trim() || DEFAULT_DNS_ADDR;
  const stop = async () => undefined;
  // A sidecar an earlier, killed run left is adopted below, or ended here when this run serves no answers.
  const staticOnly = addr.toLowerCase() === 'off' || (input.caddyOnLoopback === false && isLoopbackAddr(addr));
  if (staticOnly && input.dataDir !== undefined) await stopStaleSidecar(input.dataDir).catch(() => null);
  if (addr.toLowerCase() === 'off') {
    return { notice: 'upstreams are static (FORGE_DNS_ADDR=off): each cutover reloads the route in caddy', stop };
  }
  if (input.caddyOnLoopback === false && isLoopbackAddr(addr)) {
    // A caddy on another host would look up a loopback address of its own: every lookup would fail.
    return {
      notice: `upstreams are static: caddy is on another host and the DNS responder address ${addr} is loopback ` +
        '(set FORGE_DNS_ADDR to an address of this host that caddy can reach); each cutover reloads the route in caddy',
      stop,
    };
  }
  const refreshMs = input.refreshMs ?? DEFAULT_DNS_REFRESH_MS;
  let inProcess = '';
  if (input.dataDir !== undefined) {
    try {
      const responder = await startDnsSidecar({ dataDir: input.dataDir, addr });
      const how = responder.adopted ? `taken over from an earlier run, pid ${responder.pid}` : `pid ${responder.pid}`;
      return {
        options: { responder, refreshMs },
        responder,
        notice: `upstreams from Forge's DNS sidecar at ${responder.resolverAddress} (${how}; it keeps answering if Forge dies; ` +
          `caddy refreshes every ${refreshMs} ms; cutovers load no caddy config)`,
        stop: () => responder.close(),
      };
    } catch (error) {
      inProcess = ` (in-process: ${(error as Error).message}; if Forge dies, caddy's lookups fail until it is back)`;
    }
  }
  try {
    const responder = await startUpstreamDns({ addr });
    return {
      options: { responder, refreshMs },
      responder,
      notice: `upstreams from Forge's DNS responder at ${responder.resolverAddress}${inProcess} (caddy refreshes every ${refreshMs} ms; cutovers load no caddy config)`,
      stop: () => responder.close(),
    };
  } catch (error) {
    const why = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    return {
      notice: `upstreams are static: the DNS responder could not bind ${addr} (${why}; set FORGE_DNS_ADDR to a free loopback ip:port); each cutover reloads the route in caddy`,
      stop,
    };
  }
}

function isLoopbackAddr(addr: string): boolean {
  const host = addr.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  return host === 'localhost' || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host);
}
