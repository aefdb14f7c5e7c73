// The agent's port pool: hands out ports from a range (20000–32767 by default)
// that nothing else on the host is bound to. The range must stay clear of the
// kernel's ephemeral ports (net.ipv4.ip_local_port_range, 32768–60999 on Linux by
// default): an outgoing connection may take one of those between our check and
// the app's listen, and the app then dies with EADDRINUSE.

import net from 'node:net';
import { ForgeError } from '../../errors/index.ts';

export interface PortPoolOptions {
  from?: number;
  to?: number;
  host?: string;
  /** Injected in tests; defaults to trying to bind host:port. */
  isFree?: (port: number, host: string) => Promise<boolean>;
}

export interface PortPool {
  readonly from: number;
  readonly to: number;
  allocate(): Promise<number>;
  release(port: number): void;
  /** Marks a port as taken (an instance found running after an agent restart). False when already taken. */
  reserve(port: number): boolean;
  inUse(): number[];
}

export const DEFAULT_PORT_RANGE = { from: 20_000, to: 32_767 };

/** `32768\t60999` (the content of /proc/sys/net/ipv4/ip_local_port_range) → the range, or null. */
export function parseEphemeralRange(text: string): { from: number; to: number } | null {
  const match = /^\s*(\d+)\s+(\d+)\s*$/.exec(text);
  return match ? { from: Number(match[1]), to: Number(match[2]) } : null;
}

/** A warning when the pool's range shares ports with the kernel's ephemeral range; null when clear. */
export function ephemeralOverlapWarning(range: { from: number; to: number }, ephemeral: { from: number; to: number } | null): string | null {
  if (ephemeral === null || range.to < ephemeral.from || range.from > ephemeral.to) return null;
  const from = Math.max(range.from, ephemeral.from);
  const to = Math.min(range.to, ephemeral.to);
  return `port range ${range.from}-${range.to} shares ${from}-${to} with the kernel's ephemeral ports ` +
    `(net.ipv4.ip_local_port_range ${ephemeral.from}-${ephemeral.to}): an outgoing connection can take an app's port ` +
    'before it listens (EADDRINUSE); choose a --port-range outside it';
}

export function canBind(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

export function createPortPool(options: PortPoolOptions = {}): PortPool {
  const from = options.from ?? DEFAULT_PORT_RANGE.from;
  const to = options.to ?? DEFAULT_PORT_RANGE.to;
  const host = options.host ?? '127.0.0.1';
  const isFree = options.isFree ?? canBind;
  if (!Number.isInteger(from) || !Number.isInteger(to) || from < 1 || to > 65_535 || from > to) {
    throw new ForgeError('E_USAGE', `invalid port range ${from}-${to}`);
  }
  const taken = new Set<number>();
  // Round-robin, so a port just released is not handed out again at once
  // (a client may still be talking to the old instance).
  let cursor = from;
  const size = to - from + 1;

  return {
    from,
    to,
    async allocate() {
      for (let i = 0; i < size; i++) {
        const port = cursor;
        cursor = cursor === to ? from : cursor + 1;
        if (taken.has(port)) continue;
        taken.add(port); // before the await: concurrent allocations must not pick it too
        if (await isFree(port, host)) return port;
        taken.delete(port);
      }
      throw new ForgeError('E_UNSCHEDULABLE', `no free port in ${from}-${to} on ${host}`);
    },
    release(port) {
      taken.delete(port);
    },
    reserve(port) {
      if (taken.has(port) || port < from || port > to) return false;
      taken.add(port);
      return true;
    },
    inUse() {
      return [...taken].sort((a, b) => a - b);
    },
  };
}
