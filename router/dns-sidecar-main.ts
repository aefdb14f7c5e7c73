// The DNS sidecar: a process of its own that answers Caddy's upstream lookups
// from a records file the control plane writes (router/dns-sidecar.ts starts it).
// Why a process: Caddy 2.6 has no grace period for dynamic upstreams, so when the
// answering process dies every agent service fails ~1 s later. A control plane
// that is SIGKILLed, crashes or is OOM-killed takes only itself down; this
// process keeps answering the last published set until a control plane is back.
//
// It imports only the wire code (upstream-dns.ts: dns-packet and the pure
// answers), never the rest of Forge, so it starts in a fraction of a second and
// holds little memory. It reads the records file again when the file changed
// (one stat per SRV question: the control plane replaces it by rename, so a new
// inode) and always on a sync question `<generation>.sync.forge.internal. TXT`,
// which the control plane asks after each write: its answer is the generation
// the sidecar now serves, so a publish resolves only once the sidecar has it.
//
// usage: dns-sidecar-main.ts --forge-dns-sidecar --records FILE --addr IP:PORT

import { createSocket } from 'node:dgram';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isIP } from 'node:net';
import { dirname } from 'node:path';
import type { SrvTarget } from './dns-records.ts';
import { reply, splitAddr } from './upstream-dns.ts';

interface Packet { type?: string; id?: number; flags?: number; questions?: Array<{ name: string; type: string }>; answers?: unknown[] }
const dnsPacket = createRequire(import.meta.url)('dns-packet') as { decode(b: Buffer): Packet; encode(p: Packet): Buffer; AUTHORITATIVE_ANSWER: number };

/** What the control plane writes (router/dns-sidecar.ts). */
export interface RecordsFile {
  generation: number;
  services: Record<string, SrvTarget[]>;
}

export const SYNC_SUFFIX = '.sync.forge.internal';

function arg(name: string): string {
  const at = process.argv.indexOf(name);
  const value = at > 0 ? process.argv[at + 1] : undefined;
  if (value === undefined) throw new Error(`dns sidecar: ${name} is required`);
  return value;
}

const recordsPath = arg('--records');
const { host, port } = splitAddr(arg('--addr'));
let generation = 0;
let services = new Map<string, SrvTarget[]>();
let seen = '';

/** Reads the file when it changed (or always, `force`); a missing or unreadable file keeps the last set. */
function refresh(force: boolean): void {
  let key: string;
  try {
    const s = statSync(recordsPath, { bigint: true });
    key = `${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
  } catch {
    return;
  }
  if (!force && key === seen) return;
  try {
    const parsed = JSON.parse(readFileSync(recordsPath, 'utf8')) as RecordsFile;
    services = new Map(Object.entries(parsed.services));
    generation = parsed.generation;
    seen = key;
  } catch (error) {
    process.stderr.write(`dns sidecar: kept the last records, ${recordsPath} did not read: ${(error as Error).message}\n`);
  }
}

const socket = createSocket(isIP(host) === 6 ? 'udp6' : 'udp4');
let bound = false;
socket.on('error', (error) => {
  process.stderr.write(`dns sidecar: ${error.message}\n`);
  if (!bound) process.exit(1); // could not bind: the starter sees the exit and says why
});
socket.on('message', (message, remote) => {
  let query: Packet;
  try {
    query = dnsPacket.decode(message);
  } catch {
    return;
  }
  const question = query.questions?.[0];
  const name = question?.name.toLowerCase().replace(/\.$/, '') ?? '';
  if (query.type === 'query' && question?.type === 'TXT' && name.endsWith(SYNC_SUFFIX)) {
    refresh(true);
    socket.send(dnsPacket.encode({
      type: 'response', id: query.id ?? 0, flags: dnsPacket.AUTHORITATIVE_ANSWER, questions: query.questions ?? [],
      answers: [{ name: question.name, type: 'TXT', ttl: 0, data: String(generation) }],
    }), remote.port, remote.address);
    return;
  }
  refresh(false);
  reply(socket, message, remote, (service) => services.get(service));
});

refresh(true);
socket.bind(port, host, () => {
  bound = true;
  process.send?.({ port: socket.address().port });
  // The channel would tie this process to its starter; it must outlive it.
  if (process.connected) process.disconnect();
});

const stop = () => socket.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
// A data dir that was removed has no Forge to come back to it: nothing left to answer for.
setInterval(() => {
  if (!existsSync(dirname(recordsPath))) stop();
}, 2_000).unref();
