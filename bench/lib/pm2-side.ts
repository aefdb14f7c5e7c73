// The PM2 half of bench/pm2.ts: the project's pm2 (node_modules/.bin/pm2) with
// its own PM2_HOME, so only the daemon started here is used and `pm2 kill`
// ends only that one. Starts N hello copies from one ecosystem.config.js,
// times until every port answers, samples the daemon + apps' peak RSS, then
// reloads one edited app under load.

import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { freePort } from '../../test/e2e/stack.ts';
import { setVersion, type HelloCopy } from './hello-copies.ts';
import { descendants, parentMap, rssBytes, samplePeak, type MemorySample } from './proc-memory.ts';
import { swapUnderLoad, untilTrue, type SwapResult } from './swap.ts';

export const PM2_BIN = fileURLToPath(new URL('../../node_modules/.bin/pm2', import.meta.url));

export type Pm2Mode = 'fork' | 'cluster';

export interface Pm2Result {
  readyMs: number;
  memory: MemorySample;
  swap: SwapResult;
}

interface Pm2Home {
  home: string;
  /** The daemon's pid, once it wrote its pid file. */
  daemonPid(): number | undefined;
  /** Runs the pm2 client; `pid` is known at once, `done` resolves when it exits. */
  run(args: string[], timeoutMs: number): { pid: number | undefined; done: Promise<{ code: number | null; output: string }> };
}

function pm2Home(home: string): Pm2Home {
  mkdirSync(home, { recursive: true });
  const env = { ...process.env, PM2_HOME: home, FORCE_COLOR: '0', NO_COLOR: '1' };
  return {
    home,
    daemonPid() {
      const file = path.join(home, 'pm2.pid');
      if (!existsSync(file)) return undefined;
      const pid = Number(readFileSync(file, 'utf8').trim());
      return Number.isInteger(pid) && pid > 0 ? pid : undefined;
    },
    run(args, timeoutMs) {
      const child = spawn(PM2_BIN, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      child.stdout.on('data', (c: Buffer) => { output += c.toString('utf8'); });
      child.stderr.on('data', (c: Buffer) => { output += c.toString('utf8'); });
      const done = new Promise<{ code: number | null; output: string }>((resolve) => {
        const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
        child.on('error', (error) => { output += String(error); });
        child.on('close', (code) => {
          clearTimeout(timer);
          resolve({ code, output });
        });
      });
      return { pid: child.pid, done };
    },
  };
}

function ecosystem(copies: readonly HelloCopy[], ports: readonly number[], mode: Pm2Mode): string {
  const apps = copies.map((copy, i) => ({
    name: copy.name, script: 'server.js', cwd: copy.dir, env: { PORT: String(ports[i]) },
    ...(mode === 'cluster' ? { exec_mode: 'cluster', instances: 1 } : {}),
  }));
  return `// Written by bench/pm2.ts.\nmodule.exports = ${JSON.stringify({ apps }, null, 2)};\n`;
}

async function answers(port: number, version: string): Promise<boolean> {
  try {
    const res = await request(`http://127.0.0.1:${port}/`, { headersTimeout: 1_000, bodyTimeout: 1_000 });
    const body = await res.body.text();
    return res.statusCode === 200 && body.includes(`node-hello ${version}`);
  } catch {
    return false;
  }
}

export interface Pm2Options {
  /** A fresh folder for PM2_HOME and the ecosystem file. */
  dir: string;
  copies: readonly HelloCopy[];
  mode: Pm2Mode;
  startLimitMs: number;
  loadMs: number;
  beforeEditMs: number;
  connections: number;
}

export async function runPm2(options: Pm2Options): Promise<Pm2Result> {
  const pm2 = pm2Home(path.join(options.dir, 'pm2-home'));
  const ports: number[] = [];
  for (const _ of options.copies) ports.push(await freePort());
  const file = path.join(options.dir, 'ecosystem.config.js');
  writeFileSync(file, ecosystem(options.copies, ports, options.mode));
  let cliPid: number | undefined;
  const sampler = samplePeak(() => {
    const parents = parentMap();
    const daemon = pm2.daemonPid();
    const apps = daemon === undefined ? [] : descendants(daemon, parents);
    return {
      daemon: daemon === undefined ? 0 : rssBytes(daemon),
      apps: apps.reduce((sum, pid) => sum + rssBytes(pid), 0),
      // The `pm2 start` client while it runs (it spawns the daemon, then sends it the apps).
      cli: cliPid === undefined ? 0 : rssBytes(cliPid),
    };
  });
  try {
    const started = performance.now();
    const cli = pm2.run(['start', file], options.startLimitMs);
    cliPid = cli.pid;
    void cli.done.then(() => { cliPid = undefined; });
    const pending = new Set(ports);
    const deadline = Date.now() + options.startLimitMs;
    while (pending.size > 0) {
      if (Date.now() > deadline) throw new Error(`pm2: ${pending.size} of ${ports.length} ports still silent after ${options.startLimitMs} ms`);
      await Promise.all([...pending].map(async (port) => { if (await answers(port, 'v1')) pending.delete(port); }));
      if (pending.size > 0) await new Promise((r) => setTimeout(r, 20));
    }
    const readyMs = performance.now() - started;
    const { code, output } = await cli.done;
    if (code !== 0) throw new Error(`pm2 start exited ${code}: ${output.slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 1_000)); // settle: the peak may come just after the last answer
    const memory = sampler.stop();

    const target = options.copies[0]!;
    const swap = await swapUnderLoad(`127.0.0.1:${ports[0]}`, 'localhost', options, async () => {
      setVersion(target.dir, 'v2');
      const reload = await pm2.run(['reload', target.name], 30_000).done;
      if (reload.code !== 0) throw new Error(`pm2 reload exited ${reload.code}: ${reload.output.slice(-2000)}`);
    });
    return { readyMs, memory, swap };
  } finally {
    sampler.stop();
    await stopPm2(pm2);
  }
}

/** `pm2 kill` with our PM2_HOME; if the daemon or an app outlives it, SIGKILL those pids (ours alone). */
async function stopPm2(pm2: Pm2Home): Promise<void> {
  const daemon = pm2.daemonPid();
  const leftovers = daemon === undefined ? [] : [daemon, ...descendants(daemon)];
  await pm2.run(['kill'], 20_000).done;
  await untilTrue(5_000, () => leftovers.every((pid) => rssBytes(pid) === 0)).catch(() => undefined);
  for (const pid of leftovers) {
    if (rssBytes(pid) === 0) continue;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
}
