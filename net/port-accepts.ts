// "Does something accept a TCP connection at host:port?" — one connection attempt,
// closed at once. Shared by the agent's health checks (is the app up?) and the
// router's admin-address probe (is someone already holding Caddy's admin port?).

import net from 'node:net';

/** True when a connection to host:port opens within timeoutMs; false on refusal, error or timeout. */
export function portAccepts(port: number, host = '127.0.0.1', timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}
