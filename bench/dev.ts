// Save-to-answer in `forge dev`: the time from writing a source file of
// examples/node-hello to the new version answering through the route (rebuild,
// health-gated start, route flip), median of 5, next to a plain `node server.js`
// restart-to-first-response on the same machine. Run: npx tsx bench/dev.ts
// Target (issue 8): ≤ 1.5 s for node-hello.

import { spawn } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { copyExample, freePort, startDev, viaRoute } from '../test/dev/helpers.ts';

const RUNS = 5;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function until(fn: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('timed out');
}

async function forgeDevSaves(): Promise<number[]> {
  const dir = copyExample('node-hello');
  const dev = await startDev(dir, 'node-hello');
  const times: number[] = [];
  try {
    await dev.waitFor(/node-hello: running \(generation 1\)/, 90_000);
    const server = join(dir, 'node-hello', 'server.js');
    let version = 'v1';
    for (let run = 0; run < RUNS; run += 1) {
      const next = `v${run + 2}`;
      const start = performance.now();
      writeFileSync(server, readFileSync(server, 'utf8').replace(`const VERSION = '${version}'`, `const VERSION = '${next}'`));
      await until(async () => (await viaRoute(dev.httpPort, 'node-hello.localhost')).body.includes(next), 30_000);
      times.push(performance.now() - start);
      version = next;
      await dev.waitFor(new RegExp(`running \\(generation ${run + 2}\\)`), 30_000);
    }
  } finally {
    await dev.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  return times;
}

async function rawRestarts(): Promise<number[]> {
  const dir = copyExample('node-hello');
  const times: number[] = [];
  try {
    for (let run = 0; run < RUNS; run += 1) {
      const port = await freePort();
      const start = performance.now();
      const child = spawn(process.execPath, ['server.js'], { cwd: join(dir, 'node-hello'), env: { ...process.env, PORT: String(port) }, stdio: 'ignore' });
      await until(async () => (await viaRoute(port, 'localhost')).status === 200, 10_000);
      times.push(performance.now() - start);
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return times;
}

const dev = await forgeDevSaves();
const raw = await rawRestarts();
console.log(`dev save-to-answer: ${median(dev).toFixed(0)} ms (median of ${RUNS}; all: ${dev.map((t) => t.toFixed(0)).join(', ')}; target ≤ 1500 ms)`);
console.log(`raw node restart-to-first-response: ${median(raw).toFixed(0)} ms (median of ${RUNS}; all: ${raw.map((t) => t.toFixed(0)).join(', ')})`);
