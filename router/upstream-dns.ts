// Forge's upstream DNS responder: a UDP server on loopback that answers Caddy's
// SRV lookups with each service's current instances (router/dns-records.ts says
// what to answer). Publishing a new set is a map write: Caddy picks it up on its
// next lookup (within its `refresh`), with no config load, so no client
// connection is closed by a cutover.
//
// Wire format comes from `dns-packet` (maintained, used by multicast-dns and
// others) rather than hand-written encoding: name compression on decode, label
// rules and record layouts are easy to get subtly wrong, and a malformed reply
// would make Caddy's resolver fail the lookup (a failed request, not a crash).

import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { lookup as dnsLookup } from 'node:dns/promises';
import { createRequire } from 'node:module';
import { isIP } from 'node:net';
import { answerQuestion, srvTargetOf, type Answer, type SrvTarget } from './dns-records.ts';

// dns-packet ships no types; this is the slice of its API used here.
interface Packet {
  type?: 'query' | 'response';
  id?: number;
  flags?: number;
  questions?: Array<{ name: string; type: string; class?: string }>;
  answers?: Array<Record<string, unknown>>;
  additionals?: Array<{ type: string; udpPayloadSize?: number }>;
}
interface DnsPacket {
  decode(buf: Buffer): Packet;
  encode(packet: Packet): Buffer;
  AUTHORITATIVE_ANSWER: number;
}
const dnsPacket = createRequire(import.meta.url)('dns-packet') as DnsPacket;

const RCODE = { NOERROR: 0, NXDOMAIN: 3, FORMERR: 1 } as const;
/** Without EDNS a UDP reply must fit in 512 bytes; with it, in what the client advertised. */
const PLAIN_UDP_LIMIT = 512;

export interface UpstreamDns {
  /** `udp/<ip>:<port>`: what Caddy's `resolver.addresses` holds. */
  readonly resolverAddress: string;
  readonly host: string;
  readonly port: number;
  /**
   * Publishes a service's upstreams (`host:port`). Hosts that are names, not IPs, are
   * resolved once here. Returns true when the answer changed.
   */
  publish(service: string, upstreams: readonly string[]): Promise<boolean>;
  /** Forgets a service: its SRV name answers NXDOMAIN. */
  remove(service: string): void;
  /** What the responder answers for a service now (tests, status). */
  targets(service: string): readonly SrvTarget[] | undefined;
  /** Epoch ms of the last change of a service's answer (bench/cutover.ts measures from it). */
  changedAt(service: string): number | undefined;
  close(): Promise<void>;
}

export interface UpstreamDnsOptions {
  /** `host:port` to bind (loopback); port 0 picks a free one. */
  addr: string;
  /** Resolves a non-IP instance host (default: the system resolver). */
  resolveHost?: (host: string) => Promise<string>;
}

export async function startUpstreamDns(options: UpstreamDnsOptions): Promise<UpstreamDns> {
  const { host, port } = splitAddr(options.addr);
  const resolveHost = options.resolveHost ?? systemResolveHost;
  const records = new Map<string, SrvTarget[]>();
  const changes = new Map<string, number>();
  const socket = createSocket(isIP(host) === 6 ? 'udp6' : 'udp4');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(port, host, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  // A bad datagram or a failed send must never take the control plane down.
  socket.on('error', () => undefined);
  socket.on('message', (message, remote) => reply(socket, message, remote, (s) => records.get(s)));
  const bound = socket.address().port;

  return {
    resolverAddress: `udp/${isIP(host) === 6 ? `[${host}]` : host}:${bound}`,
    host,
    port: bound,
    async publish(service, upstreams) {
      const next = await srvTargetsOf(upstreams, resolveHost);
      const key = service.toLowerCase();
      const before = records.get(key);
      records.set(key, next);
      const changed = before === undefined || JSON.stringify(before) !== JSON.stringify(next);
      if (changed) changes.set(key, Date.now());
      return changed;
    },
    remove(service) {
      records.delete(service.toLowerCase());
      changes.delete(service.toLowerCase());
    },
    targets: (service) => records.get(service.toLowerCase()),
    changedAt: (service) => changes.get(service.toLowerCase()),
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}

/**
 * The SRV targets of a set of `host:port` upstreams, sorted. Hosts that are names, not IPs,
 * are resolved once here; one that does not resolve is left out, like one that is not ready.
 */
export async function srvTargetsOf(upstreams: readonly string[], resolveHost: (host: string) => Promise<string>): Promise<SrvTarget[]> {
  const next: SrvTarget[] = [];
  for (const upstream of [...new Set(upstreams)].sort()) {
    let target = srvTargetOf(upstream);
    if (target === null) {
      const match = /^(.+):(\d+)$/.exec(upstream);
      const ip = match ? await resolveHost(match[1]!).catch(() => null) : null;
      if (!match || ip === null) continue;
      target = srvTargetOf(isIP(ip) === 6 ? `[${ip}]:${match[2]}` : `${ip}:${match[2]}`);
      if (target === null) continue;
    }
    next.push(target);
  }
  return next;
}

/** The system resolver's address for an instance host name. */
export async function systemResolveHost(name: string): Promise<string> {
  return (await dnsLookup(name)).address;
}

/** Answers one datagram (the DNS sidecar, router/dns-sidecar-main.ts, answers the same way). */
export function reply(socket: Socket, message: Buffer, remote: RemoteInfo, lookup: (service: string) => readonly SrvTarget[] | undefined): void {
  let query: Packet;
  try {
    query = dnsPacket.decode(message);
  } catch {
    return; // not DNS: no answer, as any server would do with garbage
  }
  if (query.type !== 'query') return;
  const question = query.questions?.[0];
  const base: Packet = { type: 'response', id: query.id ?? 0, questions: query.questions ?? [] };
  let response: Packet;
  if (!question || (query.questions?.length ?? 0) !== 1) {
    response = { ...base, flags: RCODE.FORMERR };
  } else {
    const answer = answerQuestion({ name: question.name, type: question.type }, lookup);
    // Authoritative: Go's resolver treats an empty non-authoritative answer as a lame referral.
    response = { ...base, flags: dnsPacket.AUTHORITATIVE_ANSWER | RCODE[answer.rcode], answers: fit(base, answer.answers, limitOf(query)) };
  }
  socket.send(dnsPacket.encode(response), remote.port, remote.address);
}

/**
 * Drops trailing records until the reply fits the client's UDP size, instead of
 * setting TC: Caddy's resolver dials only UDP, so a truncated reply would fail
 * the lookup, while a subset of the instances still serves every request.
 */
function fit(base: Packet, answers: Answer[], limit: number): Answer[] {
  let kept = answers;
  while (kept.length > 1 && dnsPacket.encode({ ...base, answers: kept }).length > limit) kept = kept.slice(0, -1);
  return kept;
}

function limitOf(query: Packet): number {
  const opt = query.additionals?.find((a) => a.type === 'OPT');
  return Math.max(PLAIN_UDP_LIMIT, Math.min(opt?.udpPayloadSize ?? PLAIN_UDP_LIMIT, 4096));
}

export function splitAddr(addr: string): { host: string; port: number } {
  const match = /^\[?([^\]]*?)\]?:(\d+)$/.exec(addr.trim());
  const port = match ? Number(match[2]) : Number.NaN;
  if (!match || !Number.isInteger(port) || port < 0 || port > 65535 || isIP(match[1]!) === 0) {
    throw new Error(`DNS responder address '${addr}' must be ip:port (for example 127.0.0.1:5380)`);
  }
  return { host: match[1]!, port };
}
