// The agent's port pool: hands out ports from a range (20000–39999 by default)
// that nothing else on the host is bound to.

import net from 'node:net';
import { ForgeError } from '../../specs/errors.ts';

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

export const DEFAULT_PORT_RANGE = { from: 20_000, to: 39_999 };

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
