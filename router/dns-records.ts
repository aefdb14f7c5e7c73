// Pure: the DNS names and answers of Forge's upstream responder. Caddy's `srv`
// dynamic upstream source looks up one SRV name per service; each record names a
// target host and the instance's port. Caddy's Go resolver drops SRV targets that
// are not domain names (an IP literal is not one), so each instance address gets a
// name that encodes its IP (`127-0-0-1.ip4.forge.internal.`), answered with an A
// (or AAAA) record by the same responder. Nothing here does I/O.

import { isIP } from 'node:net';

/** The private zone the responder answers for; it never forwards anything else. */
export const DNS_ZONE = 'forge.internal';

/** Default refresh Caddy is told to use for a service's SRV answer (ms). */
export const DEFAULT_DNS_REFRESH_MS = 1_000;

export interface SrvTarget {
  /** Fully qualified target name (ends with a dot). */
  target: string;
  port: number;
}

/** The SRV name Caddy looks up for a service (fully qualified, so no search domains apply). */
export function srvName(service: string): string {
  return `${service.toLowerCase()}.srv.${DNS_ZONE}.`;
}

/** The service an SRV question asks about, or null when the name is not one of ours. */
export function serviceOfSrvName(name: string): string | null {
  const match = new RegExp(`^([a-z0-9-]+)\\.srv\\.${DNS_ZONE.replace('.', '\\.')}\\.?$`).exec(name.toLowerCase());
  return match ? match[1]! : null;
}

/** The name whose A/AAAA answer is `ip`. */
export function targetName(ip: string): string {
  if (isIP(ip) === 4) return `${ip.replaceAll('.', '-')}.ip4.${DNS_ZONE}.`;
  if (isIP(ip) === 6) return `${expandIpv6(ip).replaceAll(':', '')}.ip6.${DNS_ZONE}.`;
  throw new Error(`not an IP address: ${ip}`);
}

/** The address a target name encodes, or null when it is not one of ours. */
export function addressOfTarget(name: string): { family: 4 | 6; ip: string } | null {
  const lower = name.toLowerCase().replace(/\.$/, '');
  const v4 = new RegExp(`^(\\d{1,3})-(\\d{1,3})-(\\d{1,3})-(\\d{1,3})\\.ip4\\.${DNS_ZONE.replace('.', '\\.')}$`).exec(lower);
  if (v4) {
    const ip = v4.slice(1, 5).join('.');
    return isIP(ip) === 4 ? { family: 4, ip } : null;
  }
  const v6 = new RegExp(`^([0-9a-f]{32})\\.ip6\\.${DNS_ZONE.replace('.', '\\.')}$`).exec(lower);
  if (v6) return { family: 6, ip: v6[1]!.match(/.{4}/g)!.join(':') };
  return null;
}

/** `host:port` → the SRV target and port, or null when the host is not an IP literal. */
export function srvTargetOf(upstream: string): SrvTarget | null {
  const match = /^\[?([^\]]+?)\]?:(\d+)$/.exec(upstream);
  if (!match) return null;
  const port = Number(match[2]);
  if (!Number.isInteger(port) || port < 1 || port > 65535 || isIP(match[1]!) === 0) return null;
  // An IPv4-mapped IPv6 literal (`::ffff:1.2.3.4`) has no 32-hex-digit form here.
  if (isIP(match[1]!) === 6 && match[1]!.includes('.')) return null;
  return { target: targetName(match[1]!), port };
}

export interface Question {
  name: string;
  type: string;
}

export type Answer =
  | { name: string; type: 'SRV'; ttl: number; data: { priority: number; weight: number; port: number; target: string } }
  | { name: string; type: 'A' | 'AAAA'; ttl: number; data: string };

export interface Reply {
  /** NXDOMAIN for names outside what is published; NOERROR otherwise (maybe with no answers). */
  rcode: 'NOERROR' | 'NXDOMAIN';
  answers: Answer[];
}

/**
 * The reply to one question, given the SRV targets published per service. TTL is 1 s:
 * Caddy 2.6 caches by its own `refresh`, and any other resolver should not keep a set
 * that changes on every deploy.
 */
export function answerQuestion(question: Question, lookup: (service: string) => readonly SrvTarget[] | undefined): Reply {
  const name = question.name.replace(/\.$/, '');
  const service = serviceOfSrvName(name);
  if (service !== null) {
    const targets = lookup(service);
    if (targets === undefined) return { rcode: 'NXDOMAIN', answers: [] };
    if (question.type !== 'SRV') return { rcode: 'NOERROR', answers: [] };
    return {
      rcode: 'NOERROR',
      answers: targets.map((t) => ({ name, type: 'SRV' as const, ttl: 1, data: { priority: 10, weight: 10, port: t.port, target: t.target.replace(/\.$/, '') } })),
    };
  }
  const address = addressOfTarget(name);
  if (address === null) return { rcode: 'NXDOMAIN', answers: [] };
  const wanted = address.family === 4 ? 'A' : 'AAAA';
  // The other family's question gets an empty NOERROR: the name exists, just not with that type.
  if (question.type !== wanted) return { rcode: 'NOERROR', answers: [] };
  return { rcode: 'NOERROR', answers: [{ name, type: wanted, ttl: 1, data: address.ip }] };
}

/** `::1` → `0000:0000:…:0001`. */
function expandIpv6(ip: string): string {
  const [head = '', tail = ''] = ip.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === '' ? [] : tail.split(':');
  const missing = ip.includes('::') ? 8 - left.length - right.length : 0;
  return [...left, ...Array<string>(missing).fill('0'), ...right].map((p) => p.padStart(4, '0')).join(':');
}

export interface DnsUpstreamSource {
  /** `udp/<ip>:<port>` of Forge's responder. */
  resolver: string;
  /** How long Caddy keeps an SRV answer before it looks again (ms). */
  refreshMs: number;
}

/**
 * The reverse_proxy handler of a service whose instances come from the responder.
 * It names the service, never an instance, so a cutover leaves it byte for byte
 * the same and Caddy loads no config. The transport resolves the SRV targets
 * (names that encode an IP) through the same responder. With no instance the SRV
 * name has no record and Caddy answers 503 itself.
 */
export function dnsProxyHandler(service: string, source: DnsUpstreamSource): Record<string, unknown> {
  const resolver = { addresses: [source.resolver] };
  return {
    handler: 'reverse_proxy',
    dynamic_upstreams: { source: 'srv', name: srvName(service), refresh: `${source.refreshMs}ms`, resolver, dial_timeout: '2s' },
    transport: { protocol: 'http', resolver },
    // As with static upstreams: spread over replicas, and retry another one when a
    // connection is refused instead of answering 502 at once.
    load_balancing: { selection_policy: { policy: 'round_robin' }, try_duration: '2s' },
  };
}
