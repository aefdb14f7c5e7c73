// Forge's upstream DNS answers served by a sidecar process (router/dns-sidecar-main.ts)
// instead of by the control plane itself, so that a control plane that dies (SIGKILL,
// crash, OOM) leaves Caddy's lookups answered with the last published set: Caddy 2.6
// has no grace period for dynamic upstreams, and a failed lookup fails the request.
//
// The control plane owns the answers; the sidecar only serves them. Each publish
// writes `<data dir>/dns/records.json` (temp file + rename, so the sidecar never reads
// half a file) and then asks the sidecar which generation it serves; publish() resolves
// only once that is the new one, so the router's refresh wait starts from a set the
// sidecar already answers.
//
// The sidecar is spawned detached (its own process group: a Ctrl-C or a signal to
// Forge's group leaves it to Forge's clean stop, which for an external Caddy must
// first write static upstreams while lookups still work), with a minimal environment
// (no secrets), its cwd at `/`, and a pid file `<sidecar pid> <forge pid> <addr>`
// as router/stale-caddy.ts keeps for the managed caddy. The next start adopts a
// sidecar whose Forge is gone when /proc shows it is ours (this data dir's records
// file, this Forge's sidecar code) and it serves the wanted address, so a restart
// costs no lookup; any other sidecar of this data dir is ended and replaced. A
// clean stop ends it (start.ts: after the managed caddy, or after an external
// Caddy got static upstreams back).

import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { closeSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { SrvTarget } from './dns-records.ts';
import { running, signal } from './stale-caddy.ts';
import type { RecordsFile } from './dns-sidecar-main.ts';
import { splitAddr, srvTargetsOf, systemResolveHost, type UpstreamDns } from './upstream-dns.ts';

interface DnsPacket { decode(b: Buffer): { id?: number; answers?: Array<{ type: string; data: unknown }> }; encode(p: Record<string, unknown>): Buffer }
const dnsPacket = createRequire(import.meta.url)('dns-packet') as DnsPacket;

export const SIDECAR_MAIN = fileURLToPath(new URL('./dns-sidecar-main.ts', import.meta.url));
const MARKER = '--forge-dns-sidecar';

export function dnsSidecarPaths(dataDir: string): { dir: string; recordsPath: string; pidPath: string; logPath: string } {
  const dir = join(dataDir, 'dns');
  return { dir, recordsPath: join(dir, 'records.json'), pidPath: join(dir, 'sidecar.pid'), logPath: join(dir, 'sidecar.log') };
}

/** `cmdline` (NUL-separated, from /proc) is a DNS sidecar serving `recordsPath`; `sameCode` also wants this Forge's sidecar file. */
export function isOurSidecar(cmdline: string, recordsPath: string, sameCode = false): boolean {
  const argv = cmdline.split('\0').filter((a) => a !== '');
  const at = argv.indexOf('--records');
  return argv.includes(MARKER) && at > 0 && argv[at + 1] === recordsPath && (!sameCode || argv.includes(SIDECAR_MAIN));
}

export interface DnsSidecar extends UpstreamDns {
  readonly pid: number;
  /** True when a sidecar an earlier, ended run left was taken over instead of started. */
  readonly adopted: boolean;
}

export interface DnsSidecarOptions {
  dataDir: string;
  /** `ip:port` to answer on; port 0 picks a free one (kept across a replacement). */
  addr: string;
  resolveHost?: (host: string) => Promise<string>;
  /** How long the sidecar may take to answer after its spawn (default 10 s). */
  startTimeoutMs?: number;
}

export async function startDnsSidecar(options: DnsSidecarOptions): Promise<DnsSidecar> {
  const paths = dnsSidecarPaths(options.dataDir);
  mkdirSync(paths.dir, { recursive: true });
  const wanted = splitAddr(options.addr);
  const resolveHost = options.resolveHost ?? systemResolveHost;
  const records = new Map<string, SrvTarget[]>(Object.entries(readRecords(paths.recordsPath)?.services ?? {}));
  let generation = readRecords(paths.recordsPath)?.generation ?? 0;
  const changes = new Map<string, number>();

  let current = await adoptOrStart(paths, wanted, options.startTimeoutMs);
  const adopted = current.adopted;
  let written = 0;
  let pending: Promise<void> | null = null;
  let closing = false;

  const writeFile = (gen: number) => {
    const body: RecordsFile = { generation: gen, services: Object.fromEntries(records) };
    const temp = `${paths.recordsPath}.${process.pid}.tmp`;
    writeFileSync(temp, `${JSON.stringify(body)}\n`);
    renameSync(temp, paths.recordsPath);
  };
  /** Writes the records and waits until the sidecar serves them; a sidecar that does not answer is replaced once. */
  async function writeAndConfirm(): Promise<void> {
    const gen = generation;
    writeFile(gen);
    if (!(await servedGeneration(current.host, current.port, gen))) {
      if (closing) return;
      await stopSidecar(current.pid, paths.recordsPath);
      current = await adoptOrStart(paths, { host: current.host, port: current.port }, options.startTimeoutMs);
      if (!(await servedGeneration(current.host, current.port, gen))) {
        throw new Error(`the DNS sidecar (pid ${current.pid}) does not answer at ${current.host}:${current.port}; see ${paths.logPath}`);
      }
    }
    written = Math.max(written, gen);
  }
  /** Every change so far is on disk and served. Writes are serialized; one write covers all changes before it. */
  async function flush(): Promise<void> {
    while (written < generation) {
      pending ??= writeAndConfirm().finally(() => { pending = null; });
      await pending;
    }
  }
  // The file an earlier run left is what the sidecar serves already; the next change rewrites it whole.
  written = generation;

  const host = current.host;
  return {
    get pid() { return current.pid; },
    adopted,
    resolverAddress: `udp/${isIP(host) === 6 ? `[${host}]` : host}:${current.port}`,
    host,
    port: current.port,
    async publish(service, upstreams) {
      const next = await srvTargetsOf(upstreams, resolveHost);
      const key = service.toLowerCase();
      const before = records.get(key);
      const changed = before === undefined || JSON.stringify(before) !== JSON.stringify(next);
      if (!changed) return false;
      records.set(key, next);
      generation += 1;
      changes.set(key, Date.now());
      await flush();
      return true;
    },
    remove(service) {
      if (!records.delete(service.toLowerCase())) return;
      changes.delete(service.toLowerCase());
      generation += 1;
      // Its route is gone already (the router removes the answer after the route): no one waits.
      void flush().catch(() => undefined);
    },
    targets: (service) => records.get(service.toLowerCase()),
    changedAt: (service) => changes.get(service.toLowerCase()),
    async close() {
      closing = true;
      await pending?.catch(() => undefined);
      await stopSidecar(current.pid, paths.recordsPath);
      rmSync(paths.pidPath, { force: true });
    },
  };
}

interface Running { pid: number; host: string; port: number; adopted: boolean }

async function adoptOrStart(paths: ReturnType<typeof dnsSidecarPaths>, wanted: { host: string; port: number }, startTimeoutMs = 10_000): Promise<Running> {
  const left = readPid(paths.pidPath);
  if (left && left.owner !== process.pid && running(left.owner) && running(left.pid)) {
    throw new Error(`another Forge (pid ${left.owner}) runs the DNS sidecar of this data dir (pid ${left.pid})`);
  }
  if (left && running(left.pid) && isOurSidecar(cmdlineOf(left.pid), paths.recordsPath)) {
    const fits = isOurSidecar(cmdlineOf(left.pid), paths.recordsPath, true) && left.host === wanted.host && (wanted.port === 0 || wanted.port === left.port);
    if (fits && (await servedGeneration(left.host, left.port, 0))) {
      writePid(paths.pidPath, left.pid, left.host, left.port);
      return { pid: left.pid, host: left.host, port: left.port, adopted: true };
    }
    await stopSidecar(left.pid, paths.recordsPath);
  }
  rmSync(paths.pidPath, { force: true });
  const started = await spawnSidecar(paths, wanted, startTimeoutMs);
  writePid(paths.pidPath, started.pid, wanted.host, started.port);
  return { ...started, host: wanted.host, adopted: false };
}

function spawnSidecar(paths: ReturnType<typeof dnsSidecarPaths>, addr: { host: string; port: number }, timeoutMs: number): Promise<{ pid: number; port: number }> {
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  const log = openSync(paths.logPath, 'a');
  const bind = isIP(addr.host) === 6 ? `[${addr.host}]:${addr.port}` : `${addr.host}:${addr.port}`;
  let child: ChildProcess;
  try {
    child = spawn(process.execPath, ['--import', tsx, SIDECAR_MAIN, MARKER, '--records', paths.recordsPath, '--addr', bind], {
      detached: true, cwd: '/', stdio: ['ignore', log, log, 'ipc'],
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...(process.env.TMPDIR ? { TMPDIR: process.env.TMPDIR } : {}) },
    });
  } finally {
    closeSync(log);
  }
  return new Promise((resolve, reject) => {
    const fail = (why: string) => {
      clearTimeout(timer);
      if (child.pid !== undefined && child.exitCode === null) child.kill('SIGKILL');
      reject(new Error(`the DNS sidecar did not start: ${why} (log: ${paths.logPath})`));
    };
    const timer = setTimeout(() => fail(`no answer in ${timeoutMs} ms`), timeoutMs);
    child.once('error', (error) => fail(error.message));
    child.once('exit', (code, signal) => fail(`exited (${signal ?? code}): ${lastLine(paths.logPath)}`));
    child.once('message', (message) => {
      clearTimeout(timer);
      child.removeAllListeners('exit');
      if (child.connected) child.disconnect();
      child.unref();
      resolve({ pid: child.pid!, port: (message as { port: number }).port });
    });
  });
}

/**
 * Asks the sidecar which generation it serves (it re-reads the file first); true once it is at
 * least `gen`. Asks again after 0.25, 0.5, 1 and 2 s (a loaded host may be slow to answer, and an
 * answer to any of the questions counts): about 4 s of silence means the sidecar is gone or stuck.
 */
async function servedGeneration(host: string, port: number, gen: number, waits: readonly number[] = [250, 500, 1_000, 2_000]): Promise<boolean> {
  const socket = createSocket(isIP(host) === 6 ? 'udp6' : 'udp4');
  socket.on('error', () => undefined);
  const asked = new Set<number>();
  let served: (() => void) | undefined;
  const answered = new Promise<void>((resolve) => { served = resolve; });
  socket.on('message', (message: Buffer) => {
    let packet;
    try { packet = dnsPacket.decode(message); } catch { return; }
    if (packet.id === undefined || !asked.has(packet.id)) return;
    const txt = packet.answers?.find((a) => a.type === 'TXT')?.data;
    const text = Array.isArray(txt) ? Buffer.concat(txt.map((t) => Buffer.from(t as Buffer))).toString() : String(txt ?? '');
    if (Number.isInteger(Number(text)) && Number(text) >= gen) served?.();
  });
  try {
    for (const waitMs of waits) {
      const id = Math.floor(Math.random() * 65_535);
      asked.add(id);
      socket.send(dnsPacket.encode({ type: 'query', id, questions: [{ name: `g${gen}.sync.forge.internal`, type: 'TXT' }] }), port, host);
      let timer: NodeJS.Timeout | undefined;
      const ok = await Promise.race([answered.then(() => true), new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(false), waitMs); })]);
      clearTimeout(timer);
      if (ok) return true;
    }
    return false;
  } finally {
    socket.close();
  }
}

/** Ends a sidecar of this data dir by pid (SIGTERM, then SIGKILL), only when /proc shows it is one. */
export async function stopSidecar(pid: number, recordsPath: string, timeoutMs = 3_000): Promise<void> {
  if (!running(pid) || !isOurSidecar(cmdlineOf(pid), recordsPath)) return;
  signal(pid, 'SIGTERM');
  const deadline = Date.now() + timeoutMs;
  while (running(pid) && Date.now() < deadline) await sleep(20);
  if (running(pid)) signal(pid, 'SIGKILL');
  for (let i = 0; i < 200 && running(pid); i += 1) await sleep(10);
}

/**
 * Ends the sidecar an earlier, ended run of this data dir left, when this start will
 * not run one (FORGE_DNS_ADDR=off, static upstreams, routing off). Returns its pid or null.
 */
export async function stopStaleSidecar(dataDir: string): Promise<number | null> {
  const paths = dnsSidecarPaths(dataDir);
  const left = readPid(paths.pidPath);
  if (!left || (left.owner !== process.pid && running(left.owner))) return null;
  rmSync(paths.pidPath, { force: true });
  if (!running(left.pid) || !isOurSidecar(cmdlineOf(left.pid), paths.recordsPath)) return null;
  await stopSidecar(left.pid, paths.recordsPath);
  return left.pid;
}

function readRecords(path: string): RecordsFile | null {
  try {
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as RecordsFile;
    return Number.isInteger(parsed.generation) && typeof parsed.services === 'object' ? parsed : null;
  } catch {
    return null;
  }
}

function readPid(pidPath: string): { pid: number; owner: number; host: string; port: number } | null {
  try {
    const [pid, owner, addr] = readFileSync(pidPath, 'utf8').trim().split(/\s+/);
    const { host, port } = splitAddr(addr ?? '');
    if (!Number.isInteger(Number(pid)) || Number(pid) <= 1 || !Number.isInteger(Number(owner))) return null;
    return { pid: Number(pid), owner: Number(owner), host, port };
  } catch {
    return null;
  }
}

function writePid(pidPath: string, pid: number, host: string, port: number): void {
  writeFileSync(pidPath, `${pid} ${process.pid} ${isIP(host) === 6 ? `[${host}]` : host}:${port}\n`);
}

function cmdlineOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return '';
  }
}



function lastLine(path: string): string {
  try {
    return readFileSync(path, 'utf8').trim().split('\n').slice(-2).join(' | ');
  } catch {
    return '';
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
