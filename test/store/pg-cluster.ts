// A throwaway PostgreSQL cluster for tests: initdb into a temp dir, postgres listening on
// 127.0.0.1 at a free port (and a unix socket inside the temp dir), stopped by its pid and
// removed at the end. PostgreSQL refuses to run as root, so as root it runs as the `postgres`
// user (or `nobody`). Uses Debian's binaries (/usr/lib/postgresql/<version>/bin).

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const PG_ROOT = '/usr/lib/postgresql';

/** The newest installed PostgreSQL's bin dir, or null. */
export function postgresBinDir(): string | null {
  if (!existsSync(PG_ROOT)) return null;
  const versions = readdirSync(PG_ROOT).filter((v) => existsSync(join(PG_ROOT, v, 'bin', 'initdb')));
  versions.sort((a, b) => Number(b) - Number(a));
  return versions[0] === undefined ? null : join(PG_ROOT, versions[0], 'bin');
}

/** Why PostgreSQL tests cannot run here, or undefined when they can. */
export function postgresSkipReason(): string | undefined {
  return postgresBinDir() === null
    ? `PostgreSQL binaries not found under ${PG_ROOT} (apt-get install postgresql; scripts/setup.sh does)`
    : undefined;
}

function runAs(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  for (const user of ['postgres', 'nobody']) {
    try {
      const uid = Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }).trim());
      const gid = Number(execFileSync('id', ['-g', user], { encoding: 'utf8' }).trim());
      return { uid, gid };
    } catch {
      // try the next one
    }
  }
  throw new Error('running as root, and neither a postgres nor a nobody user exists to run PostgreSQL as');
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export interface PgCluster {
  /** URL of the cluster's `postgres` database (superuser `forge`, trust auth on loopback). */
  readonly adminUrl: string;
  /** URL of database `name` in this cluster. */
  urlFor(name: string): string;
  readonly port: number;
  readonly pid: number;
  stop(): Promise<void>;
}

export async function startPgCluster(): Promise<PgCluster> {
  const bin = postgresBinDir();
  if (bin === null) throw new Error(postgresSkipReason());
  const dir = mkdtempSync(join(tmpdir(), 'forge-pg-'));
  const data = join(dir, 'data');
  const user = runAs();
  if (user) chownSync(dir, user.uid, user.gid);
  chmodSync(dir, 0o700);
  const as = user ? { uid: user.uid, gid: user.gid } : {};
  execFileSync(join(bin, 'initdb'), ['-D', data, '-U', 'forge', '--auth=trust', '--no-locale', '-E', 'UTF8', '--no-sync'], {
    ...as, stdio: ['ignore', 'ignore', 'pipe'], cwd: dir,
  });
  const port = await freePort();
  const child: ChildProcess = spawn(join(bin, 'postgres'), [
    '-D', data, '-p', String(port), '-k', dir,
    '-c', 'listen_addresses=127.0.0.1',
    // A throwaway cluster: durability buys nothing here.
    '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off',
    '-c', 'max_connections=200', '-c', 'shared_buffers=32MB',
  ], { ...as, stdio: ['ignore', 'ignore', 'pipe'], cwd: dir });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4_000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const adminUrl = `postgres://forge@127.0.0.1:${port}/postgres`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      process.kill(child.pid as number, 'SIGINT'); // fast shutdown
      const timer = setTimeout(() => child.exitCode === null && process.kill(child.pid as number, 'SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  // Ready once it accepts a connection: poll pg_isready, bounded in count.
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`postgres exited at start: ${stderr}`);
    }
    try {
      execFileSync(join(bin, 'pg_isready'), ['-h', '127.0.0.1', '-p', String(port), '-U', 'forge', '-q'], { stdio: 'ignore' });
      break;
    } catch {
      if (i >= 300) {
        await stop();
        throw new Error(`postgres did not accept connections within 30 s: ${stderr}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    adminUrl,
    urlFor: (name) => `postgres://forge@127.0.0.1:${port}/${name}`,
    port,
    pid: child.pid as number,
    stop,
  };
}
