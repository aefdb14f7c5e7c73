// Test helpers: a managed caddy on free loopback ports, a tiny upstream, and a
// request through caddy with a chosen Host header. Everything started here is
// stopped by the returned handles (only our own pids are killed).

import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { CaddyClient } from '../../router/caddy-client.ts';
import { forgeServerConfig } from '../../router/caddy-config.ts';
import { startManagedCaddy, type ManagedCaddy, type ManagedCaddyOptions } from '../../router/managed-caddy.ts';
import { freePort } from '../helpers/net.ts';

export { freePort } from '../helpers/net.ts';

export interface CaddyFixture {
  caddy: ManagedCaddy;
  client: CaddyClient;
  adminAddr: string;
  httpAddr: string;
  dataDir: string;
  stop(): Promise<void>;
}


/** Starts a managed caddy on two free ports; retries once if a port was taken in between. */
export async function startCaddyFixture(extra: Partial<ManagedCaddyOptions> = {}): Promise<CaddyFixture> {
  const dataDir = mkdtempSync(join(tmpdir(), 'forge-router-test-'));
  let lastError: unknown;
  for (let attempt = 0; attempt < 2; attempt += 1) {
    const adminAddr = `127.0.0.1:${await freePort()}`;
    const httpAddr = `127.0.0.1:${await freePort()}`;
    try {
      const caddy = await startManagedCaddy({ adminAddr, httpAddr, domain: 'localhost', dataDir, server: 'forge', startTimeoutMs: 8000, ...extra });
      const client = new CaddyClient({
        admin: caddy.adminUrl,
        server: 'forge',
        serverTemplate: forgeServerConfig({ httpAddr, domain: 'localhost' }),
      });
      return {
        caddy,
        client,
        adminAddr,
        httpAddr,
        dataDir,
        stop: async () => {
          await caddy.stop();
          rmSync(dataDir, { recursive: true, force: true });
        },
      };
    } catch (err) {
      lastError = err;
    }
  }
  rmSync(dataDir, { recursive: true, force: true });
  throw lastError;
}

/** Runs `fn` with a caddy of its own, stopped afterwards whatever `fn` did. */
export async function withCaddy(fn: (fx: CaddyFixture) => Promise<void>): Promise<void> {
  const fx = await startCaddyFixture();
  try {
    await fn(fx);
  } finally {
    await fx.stop();
  }
}

export interface Upstream {
  addr: string;
  close(): Promise<void>;
}

/** A node:http server on 127.0.0.1:0 that answers `<tag> <path>` and echoes the Host header it saw. */
export async function startUpstream(tag: string): Promise<Upstream> {
  const server: Server = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'x-seen-host': req.headers.host ?? '' });
    res.end(`${tag} ${req.url}`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    addr: `127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface Reply {
  status: number;
  body: string;
  seenHost: string | undefined;
}

/** GET through caddy's HTTP listener with the given Host header. */
export async function viaCaddy(httpAddr: string, host: string, path = '/'): Promise<Reply> {
  const res = await request(`http://${httpAddr}${path}`, { headers: { host, connection: 'close' } });
  const seen = res.headers['x-seen-host'];
  return { status: res.statusCode, body: await res.body.text(), seenHost: typeof seen === 'string' ? seen : undefined };
}

/** Raw admin call for simulating a person editing Caddy by hand. */
export async function adminRaw(admin: string, method: 'GET' | 'POST' | 'PATCH' | 'DELETE' | 'PUT', path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  const res = await request(`${admin}${path}`, {
    method,
    // No keep-alive: a /load restarts caddy's admin listener, and a pooled socket would be reset.
    headers: body === undefined ? { connection: 'close' } : { 'content-type': 'application/json', connection: 'close' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.body.text();
  return { status: res.statusCode, json: text === '' ? null : JSON.parse(text) };
}
