// One whole one-machine Forge, as `forge dev` wires it, for end-to-end tests and
// bench/cutover.ts: a managed Debian caddy on free loopback ports, the control
// plane (API, loop, agent provider) with its embedded local agent, and a copy of
// examples/node-hello in a temp dir applied the way `forge dev` applies a folder
// (source digest in spec.revision, so an edited file is a new release).
// stop() ends everything started here (only our own processes) and removes the dirs.
// The app copy also answers websockets on /ws (WS_SNIPPET, test-only): a stream
// that outlives requests, to show a cutover leaves it open until its drain.

import { randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { generateApiKey } from '../../api/auth.ts';
import { resolveConfig } from '../../api/config.ts';
import { startControlPlane, type ControlPlane } from '../../api/control-plane.ts';
import { sweepSandboxes } from '../../agent/sandbox/index.ts';
import { applyDirectory } from '../../cli/dev/apply-dir.ts';
import { startRouting, type Routing } from '../../router/start.ts';
import { freePort } from '../helpers/net.ts';

export { eventually, freePort } from '../helpers/net.ts';

export const APP = 'node-hello';
export const HOST = `${APP}.localhost`;
const EXAMPLE = fileURLToPath(new URL('../../examples/node-hello/', import.meta.url));

/**
 * Appended to the app copy's server.js: a minimal websocket endpoint (the app runs
 * in a sandbox without node_modules, so no library) that sends `tick <VERSION>`
 * every 100 ms, and closes with 1001 when the instance gets SIGTERM.
 */
const WS_SNIPPET = `
import { createHash as wsHash } from 'node:crypto';
const wsSockets = new Set();
server.on('upgrade', (req, socket) => {
  const accept = wsHash('sha1').update(String(req.headers['sec-websocket-key']) + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
  socket.write('HTTP/1.1 101 Switching Protocols\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\nSec-WebSocket-Accept: ' + accept + '\\r\\n\\r\\n');
  const timer = setInterval(() => {
    const text = Buffer.from('tick ' + VERSION);
    socket.write(Buffer.concat([Buffer.from([0x81, text.length]), text]));
  }, 100);
  const entry = { socket, timer };
  wsSockets.add(entry);
  socket.on('error', () => undefined);
  socket.on('close', () => { clearInterval(timer); wsSockets.delete(entry); });
});
process.prependListener('SIGTERM', () => {
  for (const { socket, timer } of wsSockets) { clearInterval(timer); socket.end(Buffer.from([0x88, 2, 0x03, 0xe9])); }
});
`;

export interface Stack {
  dir: string;
  /** The agent's cgroup root: sandboxed apps are found by it (their cwd is inside their own root). */
  cgroupRoot: string;
  appDir: string;
  plane: ControlPlane;
  routing: Routing;
  /** host:port of caddy's HTTP listener (our `forge` server). */
  httpAddr: string;
  adminUrl: string;
  apiKey: string;
  resyncIntervalMs: number;
  /** Applies the app folder like `forge dev` does and nudges what changed; returns the new generation. */
  apply(): Promise<number>;
  /** Rewrites server.js: its VERSION and, optionally, what /health answers. */
  editSource(version: string, options?: { healthStatus?: number }): void;
  /** Sets `replicas:` in the app's forge.yaml (apply() afterwards). */
  setReplicas(count: number): void;
  /** How many times caddy has loaded a new config so far (each load closes idle client connections). */
  caddyLoads(): number;
  /** GET through caddy with the app's Host header: `<status> <body>`. */
  get(pathname?: string): Promise<string>;
  stop(): Promise<void>;
}


/** A block of ports for the agent, away from the ephemeral range the OS hands out for port 0. */
function agentPortRange(): { from: number; to: number } {
  const from = 22_000 + Math.floor(Math.random() * 100) * 100;
  return { from, to: from + 99 };
}

export async function startStack(options: { resyncIntervalMs?: number; dnsAddr?: string } = {}): Promise<Stack> {
  const dir = mkdtempSync(path.join(tmpdir(), 'forge-e2e-cutover-'));
  const appDir = path.join(dir, 'app');
  cpSync(EXAMPLE, appDir, { recursive: true });
  const original = readFileSync(path.join(appDir, 'server.js'), 'utf8') + WS_SNIPPET;
  writeFileSync(path.join(appDir, 'server.js'), original);
  const spec = readFileSync(path.join(appDir, 'forge.yaml'), 'utf8');
  const resyncIntervalMs = options.resyncIntervalMs ?? 1_000;
  const httpAddr = `127.0.0.1:${await freePort()}`;
  const adminAddr = `127.0.0.1:${await freePort()}`;
  // Only what the stack needs: no Fly or cloud credentials from the outer environment.
  // FORGE_DNS_ADDR port 0: the upstream DNS responder takes a free port (the route names it).
  const env = {
    PATH: process.env.PATH, FORGE_HTTP_ADDR: httpAddr, FORGE_DATA_DIR: path.join(dir, 'data'), FORGE_API_ADDR: '127.0.0.1:0',
    FORGE_DNS_ADDR: options.dnsAddr ?? '127.0.0.1:0',
  };
  const { config } = resolveConfig(env, {}, randomBytes, dir);
  const cgroupRoot = `forge-e2e-cutover-${process.pid}-${randomBytes(3).toString('hex')}`;

  const routing = await startRouting({ env, dataDir: config.dataDir, domain: 'localhost', production: false, mode: 'managed', adminAddr });
  let plane: ControlPlane;
  try {
    plane = await startControlPlane(config, {
      env, logger: false, resyncIntervalMs, heartbeatIntervalMs: 500,
      ...(routing.router ? { routes: routing.router } : {}),
      localAgent: { portRange: agentPortRange(), cgroupRoot },
    });
  } catch (error) {
    await routing.stop();
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const { key: apiKey, hash, prefix } = generateApiKey();
  plane.store.apiKeys.create({ name: 'e2e', hash, prefix });

  return {
    cgroupRoot,
    dir, appDir, plane, routing, httpAddr, adminUrl: `http://${adminAddr}`, apiKey, resyncIntervalMs,
    async apply() {
      const result = await applyDirectory(plane.store, appDir, dir);
      if (!result.ok) throw new Error(`apply failed: ${result.problems.join('; ')}`);
      for (const key of result.plan.changed) plane.nudge(key);
      return plane.store.services.get(APP)!.generation;
    },
    editSource(version, edit = {}) {
      let text = original.replace("const VERSION = 'v1'", `const VERSION = '${version}'`);
      if (edit.healthStatus !== undefined) {
        text = text.replace("res.writeHead(200, { 'content-type': 'text/plain' }).end('ok')",
          `res.writeHead(${edit.healthStatus}, { 'content-type': 'text/plain' }).end('no')`);
      }
      if (text === original && version !== 'v1') throw new Error('server.js no longer has the expected VERSION line');
      writeFileSync(path.join(appDir, 'server.js'), text);
    },
    setReplicas(count) {
      writeFileSync(path.join(appDir, 'forge.yaml'), `${spec}\nreplicas: ${count}\n`);
    },
    caddyLoads() {
      const log = routing.caddy ? readFileSync(routing.caddy.logPath, 'utf8') : '';
      // Logged once per load: the old config's server stops after the new one runs.
      return log.split('"msg":"stopped previous server"').length - 1;
    },
    async get(pathname = '/') {
      const res = await request(`http://${httpAddr}${pathname}`, {
        headers: { host: HOST, connection: 'close' }, headersTimeout: 3_000, bodyTimeout: 3_000,
      });
      return `${res.statusCode} ${(await res.body.text()).trim()}`;
    },
    async stop() {
      await plane.close();
      await routing.stop();
      await sweepSandboxes(cgroupRoot).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

