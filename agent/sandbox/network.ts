// One network namespace per sandbox, connected to the outside by pasta (Debian
// package passt): a maintained user-mode network stack, so no bridge, veth,
// NAT or firewall rules on the host. The namespace is created by `ip netns add`
// in the host's user namespace, so the app (in its own user namespace) holds no
// capability over it and cannot change its addresses or routes.
//
// pasta is told exactly what to forward:
//   -t <host>/<port>  the app's $PORT, bound on the agent's address only: the
//                     proxy path (Caddy → agent address) reaches it and nothing
//                     else is forwarded in;
//   -T none -U none   nothing from inside to the host's ports (pasta's default
//                     "auto" would forward every port bound on the host's
//                     loopback — Caddy's admin API, the control plane — inside);
//   --no-map-gw       the gateway address is the real gateway, not an alias of
//                     the host's loopback (pasta's default).
// Outbound connections leave through pasta's own sockets, as from the host; with
// egress off the namespace keeps only loopback routes, so nothing leaves.
// pasta must run as root to enter a namespace owned by the host's user
// namespace; it then drops to the capabilities it needs and seccomp-filters itself.

import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { isIP } from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { ForgeError } from '../../errors/index.ts';

const run = promisify(execFile);

/** pasta could not bind the app's port on the host: another process holds it. */
export class PortTakenError extends ForgeError {
  constructor(readonly port: number) {
    super('E_PROVIDER', `port ${port} was taken by another process before the app listened`);
  }
}

export interface NetworkOptions {
  /** Namespace name under /run/netns. */
  name: string;
  /** Where pasta's pid and log go. */
  stateDir: string;
  /** The app's port, forwarded from bindHost on the host; undefined for builds. */
  port?: number;
  /** Host address the port is bound on (the agent's reported host); a name binds all addresses. */
  bindHost: string;
  /** Outbound traffic allowed (builds fetch packages); false keeps only loopback routes. */
  egress: boolean;
}

export interface SandboxNetwork {
  nsPath: string;
  /** Keeps loopback routes only from now on (a build with egress shared the namespace first). */
  closeEgress(): Promise<void>;
  destroy(): Promise<void>;
}

/** pasta's argv for one namespace: nothing secret in it. */
export function pastaArgs(options: NetworkOptions, nsPath: string, pidFile: string, logFile: string): string[] {
  const forward = options.port === undefined ? 'none' : isIP(options.bindHost) !== 0 ? `${options.bindHost}/${options.port}` : String(options.port);
  return [
    '--config-net', '--netns', nsPath, '--runas', '0:0', '--quiet', '-l', logFile, '-P', pidFile,
    '--no-map-gw', '-t', forward, '-u', 'none', '-T', 'none', '-U', 'none',
  ];
}

/**
 * The address where the forwarded port accepts on the host: the agent's address
 * when it is one (pasta binds nothing else), else loopback (a name binds all).
 * Health checks probe here; 127.0.0.1 would miss a worker's own address.
 */
export function forwardedAddress(bindHost: string): string {
  return isIP(bindHost) !== 0 ? bindHost : '127.0.0.1';
}

export async function createNetwork(options: NetworkOptions): Promise<SandboxNetwork> {
  const nsPath = path.join('/run/netns', options.name);
  const pidFile = path.join(options.stateDir, `${options.name}.pasta.pid`);
  const logFile = path.join(options.stateDir, `${options.name}.pasta.log`);
  await fs.mkdir(options.stateDir, { recursive: true, mode: 0o700 });
  // A namespace of this name a crashed agent left goes first (looked for, not tried blindly:
  // every process the agent starts holds up its event loop for a moment, see below).
  if (await fs.stat(nsPath).then(() => true, () => false)) await deleteNamespace(options.name);
  const closeEgress = async () => {
    await run('ip', ['-n', options.name, '-4', 'route', 'flush', 'table', 'main'], { timeout: 10_000 });
    await run('ip', ['-n', options.name, '-6', 'route', 'flush', 'table', 'main'], { timeout: 10_000 });
  };
  const network: SandboxNetwork = {
    nsPath,
    closeEgress,
    async destroy() {
      const pid = Number((await fs.readFile(pidFile, 'utf8').catch(() => '')).trim());
      // pasta quits when its namespace file goes; the kill is for a pasta that did not notice.
      await deleteNamespace(options.name);
      // Wait for it to be gone: until then it holds the app's port on the host.
      if (Number.isInteger(pid) && pid > 0) await endProcess(pid);
      await fs.rm(pidFile, { force: true });
      await fs.rm(logFile, { force: true });
    },
  };
  try {
    // The namespace, then pasta, which forks into the background once it has configured it:
    // ready when this returns. One process started by the agent instead of two (each start
    // blocks the agent's event loop, shared with health checks and other starts, for 5-20 ms).
    await run('/bin/sh', ['-c', 'ip netns add "$0" && exec pasta "$@"', options.name, ...pastaArgs(options, nsPath, pidFile, logFile)], { timeout: 10_000 });
    if (!options.egress) await closeEgress();
  } catch (err) {
    const log = (await fs.readFile(logFile, 'utf8').catch(() => '')).trim().split('\n').slice(-3).join('; ');
    await network.destroy();
    if (options.port !== undefined && /failed to bind/i.test(log)) throw new PortTakenError(options.port);
    throw new Error(`could not connect network namespace ${options.name}: ${(err as Error).message.split('\n')[0]}${log ? ` (${log})` : ''}`);
  }
  return network;
}

function signal(pid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(pid, sig);
    return true;
  } catch {
    return false;
  }
}

/**
 * SIGKILL, then wait until it is gone (bounded). pasta holds no state worth a
 * graceful exit (its namespace is already deleted), and it takes about 2 s to
 * act on SIGTERM: the app's port would stay bound that long.
 */
async function endProcess(pid: number): Promise<void> {
  if (!signal(pid, 'SIGKILL')) return;
  for (let i = 0; i < 100 && (await running(pid)); i++) await sleep(10);
}

/** Alive and not a zombie (pasta is not our child: whoever reaps it may take its time, its ports are free already). */
async function running(pid: number): Promise<boolean> {
  const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  return state !== '' && state !== 'Z' && state !== 'X';
}

async function deleteNamespace(name: string): Promise<void> {
  await run('ip', ['netns', 'delete', name], { timeout: 10_000 }).catch(() => undefined);
}

/** Namespaces a crashed agent left behind (names start with prefix). */
export async function sweepNamespaces(prefix: string): Promise<void> {
  const names = await fs.readdir('/run/netns').catch(() => [] as string[]);
  for (const name of names) if (name.startsWith(prefix)) await deleteNamespace(name);
}

/**
 * True when /proc/<pid>/net/tcp or tcp6 text shows a socket listening on port.
 * pasta accepts on the host side before the app listens, so "the host port
 * accepts" says nothing; the namespace's own socket table does.
 */
export function tableListens(text: string, port: number): boolean {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  for (const line of text.split('\n').slice(1)) {
    const cols = line.trim().split(/\s+/);
    const local = cols[1];
    if (local !== undefined && local.endsWith(`:${hex}`) && cols[3] === '0A') return true;
  }
  return false;
}
