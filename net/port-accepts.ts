// "Does something accept a connection at host:port (or at a Unix socket)?" — one connection
// attempt, closed at once. Shared by the agent's health checks (is the app up?) and the
// router's admin-address probe (is someone already holding Caddy's admin port or socket?).

import net from 'node:net';

export type ConnectTarget = { host: string; port: number } | { path: string };

/** True when a connection to `target` opens within timeoutMs; false on refusal, error or timeout. */
export function accepts(target: ConnectTarget, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(target);
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** True when a TCP connection to host:port opens within timeoutMs. */
export function portAccepts(port: number, host = '127.0.0.1', timeoutMs = 1_000): Promise<boolean> {
  return accepts({ port, host }, timeoutMs);
}
