// Which TCP ports an app's processes listen on, for the start-up timeout's message
// ("listens on port 3000, but must listen on $PORT"). A pure parser of the kernel's
// /proc/net/tcp text, and a thin reader that keeps only sockets the given processes
// hold open (by socket inode), so it is right whether the app shares the host's
// network namespace (where /proc/<pid>/net/tcp lists every socket of the host) or has
// its own.

import { readFile, readdir, readlink } from 'node:fs/promises';

export interface ListeningSocket {
  /** The local address as the kernel prints it (hex, network byte order per 32-bit word). */
  address: string;
  port: number;
  inode: number;
}

const LISTEN = '0A';

/** The LISTEN rows of /proc/net/tcp or /proc/net/tcp6 text; anything unparsable is skipped. */
export function parseListeningSockets(text: string): ListeningSocket[] {
  const sockets: ListeningSocket[] = [];
  for (const line of text.split('\n')) {
    // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ...
    const fields = line.trim().split(/\s+/);
    if (fields.length < 10 || !/^\d+:$/.test(fields[0]!) || fields[3] !== LISTEN) continue;
    const match = /^([0-9A-Fa-f]+):([0-9A-Fa-f]{4})$/.exec(fields[1]!);
    const inode = Number(fields[9]);
    if (match === null || !Number.isSafeInteger(inode)) continue;
    sockets.push({ address: match[1]!, port: Number.parseInt(match[2]!, 16), inode });
  }
  return sockets;
}

/** Socket inodes a process holds open (`socket:[123]` links under /proc/<pid>/fd). */
async function socketInodes(pid: number): Promise<number[]> {
  const fds = await readdir(`/proc/${pid}/fd`).catch(() => [] as string[]);
  const links = await Promise.all(fds.map((fd) => readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')));
  return links.flatMap((link) => {
    const m = /^socket:\[(\d+)\]$/.exec(link);
    return m ? [Number(m[1])] : [];
  });
}

/**
 * Sorted, distinct TCP ports (IPv4 and IPv6) on which any of `pids` listens. Processes
 * that are gone or unreadable contribute nothing; this never throws.
 */
export async function listeningPortsOf(pids: readonly number[]): Promise<number[]> {
  const ports = new Set<number>();
  for (const pid of pids) {
    const inodes = new Set(await socketInodes(pid));
    if (inodes.size === 0) continue;
    for (const table of ['tcp', 'tcp6']) {
      const text = await readFile(`/proc/${pid}/net/${table}`, 'utf8').catch(() => '');
      for (const socket of parseListeningSockets(text)) if (inodes.has(socket.inode)) ports.add(socket.port);
    }
  }
  return [...ports].sort((a, b) => a - b);
}

/** The sentence appended when $PORT never opened: where the app listens instead. */
export function wrongPortHint(port: number, listening: readonly number[]): string {
  if (listening.includes(port)) {
    return `the app listens on $PORT (${port}) but not on an address the check reaches; listen on all addresses (0.0.0.0), not only one`;
  }
  const where = listening.length === 0
    ? 'listen on no TCP port'
    : `listen on port${listening.length === 1 ? '' : 's'} ${listening.join(', ')}`;
  return `the app's processes ${where}, but the app must listen on $PORT (${port}). If it only needs longer to start, raise health.grace`;
}
