// Running `bin/forge dev` as a child process on ports it is given, reading its
// output line by line, and proving nothing it started is left afterwards.

import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { freePort } from '../helpers/net.ts';

export { freePort } from '../helpers/net.ts';

export const REPO = new URL('../../', import.meta.url).pathname;


export function copyExample(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'forge-dev-'));
  cpSync(join(REPO, 'examples', name), join(dir, name), { recursive: true });
  return dir;
}

export interface DevProcess {
  child: ChildProcess;
  httpPort: number;
  output(): string;
  waitFor(pattern: RegExp, timeoutMs: number): Promise<RegExpExecArray>;
  stop(timeoutMs?: number): Promise<number | null>;
}

export async function startDev(dir: string, path: string): Promise<DevProcess> {
  const [api, http, admin] = [await freePort(), await freePort(), await freePort()];
  const child = spawn(join(REPO, 'bin', 'forge'), ['dev', path, '--addr', `127.0.0.1:${api}`, '--debounce', '100'], {
    cwd: dir,
    env: {
      ...process.env, FORGE_DATA_DIR: join(dir, '.forge'), FORGE_HTTP_ADDR: `127.0.0.1:${http}`,
      FORGE_CADDY_ADMIN: `http://127.0.0.1:${admin}`, NO_COLOR: '1',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  const waiters = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    text += chunk.toString('utf8');
    for (const wake of waiters) wake();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => { for (const wake of waiters) wake(); resolve(code); }));
  return {
    child, httpPort: http,
    output: () => text,
    waitFor(pattern, timeoutMs) {
      return new Promise((resolve, reject) => {
        const from = text.length;
        const check = () => {
          const match = pattern.exec(text.slice(from));
          if (match) { done(); resolve(match); } else if (child.exitCode !== null) { done(); reject(new Error(`forge dev exited while waiting for ${pattern}:\n${text}`)); }
        };
        const timer = setTimeout(() => { done(); reject(new Error(`timed out waiting for ${pattern}:\n${text}`)); }, timeoutMs);
        const done = () => { clearTimeout(timer); waiters.delete(check); };
        waiters.add(check);
        check();
      });
    },
    async stop(timeoutMs = 30_000) {
      if (child.exitCode !== null) return child.exitCode;
      child.kill('SIGINT');
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/**
 * GET / through caddy with the service's host name; a status of 0 means the request
 * failed. A GET whose kept-alive connection was closed under it before any response
 * (caddy closes idle connections when it loads a new config) is sent once more, as
 * HTTP clients do for idempotent requests (RFC 9112 §9.3.1). A 502/503, a refused
 * connection or a second failure still count as failed.
 */
export async function viaRoute(port: number, host: string): Promise<{ status: number; body: string }> {
  for (let attempt = 0; attempt < 2; attempt += 1) {
    try {
      const res = await request(`http://127.0.0.1:${port}/`, { headers: { host }, headersTimeout: 2_000, bodyTimeout: 2_000 });
      return { status: res.statusCode, body: await res.body.text() };
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (attempt === 0 && (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET')) continue;
      return { status: 0, body: '' };
    }
  }
  return { status: 0, body: '' };
}

/** Processes whose working directory or command line points into `dir`. */
/** The embedded agent's cgroup root for a `forge dev` in `dir` (api/control-plane.ts names it after the data dir). */
export function devCgroupRoot(dir: string): string {
  return `forge-local-${createHash('sha256').update(join(dir, '.forge')).digest('hex').slice(0, 8)}`;
}
