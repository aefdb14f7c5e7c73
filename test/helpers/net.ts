// Waiting and ports for tests that start servers: one copy, used by every harness.

import { createServer, type AddressInfo } from 'node:net';

/** A loopback port that was free a moment ago (for servers that cannot take port 0 themselves). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Polls `check` every 100 ms until it returns a value (not undefined/false); fails after `limitMs`. */
export async function eventually<T>(what: string, limitMs: number, check: () => Promise<T | undefined | false> | T | undefined | false): Promise<T> {
  const deadline = Date.now() + limitMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
      last = value;
    } catch (error) {
      last = error;
    }
    if (Date.now() >= deadline) throw new Error(`gave up waiting for ${what} after ${limitMs} ms (last: ${String(last)})`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
