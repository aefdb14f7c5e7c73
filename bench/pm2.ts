// Peer comparison with PM2 (issue 9, item 2): 50 copies of examples/node-hello
// started from one declarative file by each manager, measured in the same run.
//   Forge: `forge dev`-style apply of 50 specs, in-process control plane + agent +
//          managed caddy, until all 50 are `running` (health-gated) at their generation.
//   PM2:   `pm2 start ecosystem.config.js` (own PM2_HOME, own daemon) until all 50
//          ports answer GET / with the hello body.
// Then for each: edit hello-00's VERSION under autocannon load and swap it
// (Forge: re-apply → health-gated cutover through caddy; PM2: `pm2 reload`).
//   npx tsx bench/pm2.ts        (as root: Forge's sandboxes need cgroups)
// BENCH_PM2_ISOLATION=both also starts the Forge half once more with its sandbox off
// (FORGE_ISOLATION=off) and prints both Forge figures side by side: what isolation costs.
// Env: BENCH_PM2_COUNT (default 50), BENCH_PM2_MODE (cluster|fork, default cluster:
// the mode PM2 documents for zero-downtime reload; in fork mode reload is a restart).
// Everything started here is stopped and every temp dir removed, also on failure.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runForge, type ForgeResult } from './lib/forge-side.ts';
import { makeHelloCopies } from './lib/hello-copies.ts';
import { PM2_BIN, runPm2, type Pm2Mode, type Pm2Result } from './lib/pm2-side.ts';
import { descendants, toMb } from './lib/proc-memory.ts';
import type { SwapResult } from './lib/swap.ts';

const COUNT = Number(process.env.BENCH_PM2_COUNT ?? 50);
const BOTH = process.env.BENCH_PM2_ISOLATION === 'both';
const MODE: Pm2Mode = process.env.BENCH_PM2_MODE === 'fork' ? 'fork' : 'cluster';
const CPU = 0.1;
const SWAP = { loadMs: 8_000, beforeEditMs: 1_500, connections: 8 };
const START_LIMIT_MS = 60_000;
/** The whole bench: past this, stop everything and fail (one more Forge half with BOTH). */
const OVERALL_LIMIT_MS = BOTH ? 260_000 : 170_000;

const dirs: string[] = [];
const tempDir = (prefix: string) => {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
};

function swapLine(what: string, swap: SwapResult): string {
  return `${what}: ${swap.requests} requests, ${swap.failed} failed, new version after ${swap.newVersionMs} ms`;
}

function statuses(swap: SwapResult): string {
  return Object.entries(swap.statuses).map(([code, n]) => `${code}×${n}`).join(' ') || 'none';
}

async function forgeSide(isolation: 'auto' | 'off' = 'auto'): Promise<ForgeResult> {
  const appsDir = tempDir('forge-bench-pm2-apps-');
  const copies = makeHelloCopies(appsDir, COUNT, { memory: '256M', cpu: CPU });
  return runForge({ appsDir, copies, cpusPerService: CPU, startLimitMs: START_LIMIT_MS, isolation, ...SWAP });
}

async function pm2Side(): Promise<Pm2Result> {
  const dir = tempDir('forge-bench-pm2-pm2-');
  const copies = makeHelloCopies(path.join(dir, 'apps'), COUNT, { memory: '256M', cpu: CPU });
  return runPm2({ dir, copies, mode: MODE, startLimitMs: START_LIMIT_MS, ...SWAP });
}

function report(forge: ForgeResult, pm2: Pm2Result): void {
  const f = forge.memory.parts;
  const p = pm2.memory.parts;
  console.log(`pm2: ${COUNT} apps answering in ${pm2.readyMs.toFixed(0)} ms (pm2 start ecosystem.config.js, ${MODE} mode, until every port answers GET /)`);
  console.log(`forge: ${COUNT} services running in ${forge.readyMs.toFixed(0)} ms (apply until every service is running at its generation, health-gated)`);
  console.log(`forge/pm2 time ratio: ${(forge.readyMs / pm2.readyMs).toFixed(2)}`);
  console.log(`pm2 peak memory: ${toMb(pm2.memory.totalBytes)} MB (daemon ${toMb(p.daemon ?? 0)} MB + ${COUNT} apps ${toMb(p.apps ?? 0)} MB + pm2 start client ${toMb(p.cli ?? 0)} MB at the peak sample)`);
  console.log(`forge peak memory: ${toMb(forge.memory.totalBytes)} MB (this process: control plane + agent + the bench harness ${toMb(f.manager ?? 0)} MB, ` +
    `of which ${toMb(forge.baselineBytes)} MB before Forge started; ${COUNT} apps with their sandbox wrappers (crun, sh, pasta) and build steps ${toMb(f.apps ?? 0)} MB; caddy not included)`);
  console.log(`forge caddy peak memory: ${toMb(forge.caddyBytes)} MB (the router; PM2 has none)`);
  console.log(`forge/pm2 memory ratio: ${(forge.memory.totalBytes / pm2.memory.totalBytes).toFixed(2)}`);
  console.log(`${swapLine('pm2 reload', pm2.swap)} (statuses: ${statuses(pm2.swap)}; resets ${pm2.swap.resets})`);
  console.log(`${swapLine('forge cutover', forge.swap)} (statuses: ${statuses(forge.swap)}; resets ${forge.swap.resets})`);
  console.log(`pm2 reload failed requests: ${pm2.swap.failed} requests (of ${pm2.swap.requests})`);
  console.log(`forge cutover failed requests: ${forge.swap.failed} requests (of ${forge.swap.requests}; target ≤ 0)`);
  console.log(`pm2 reload new version: ${pm2.swap.newVersionMs} ms (from the edit to the first v2 answer)`);
  console.log(`forge cutover new version: ${forge.swap.newVersionMs} ms (from the edit to the first v2 answer through caddy)`);
  console.log(`  notes: Forge's agent advertised ${forge.agentCpus} CPUs (host: see machine) so ${COUNT} × ${CPU} CPU reservations fit; ` +
    `each Forge instance runs in a cgroup capped at ${CPU} CPU and 256 MB, PM2's apps are uncapped ` +
    `(so the swap windows' request counts differ: Forge's hello-00 serves at most ${CPU} CPU's worth).`);
}

async function main(): Promise<void> {
  // Forge first, so this process's RSS is not inflated by the PM2 half's load generator.
  const forge = await forgeSide();
  const unisolated = BOTH ? await forgeSide('off') : null;
  const pm2 = await pm2Side();
  report(forge, pm2);
  if (unisolated) {
    console.log('isolation cost (the same Forge half with FORGE_ISOLATION=off):');
    console.log(`  bring-up:      sandboxed ${forge.readyMs.toFixed(0)} ms | isolation off ${unisolated.readyMs.toFixed(0)} ms | pm2 ${pm2.readyMs.toFixed(0)} ms`);
    console.log(`  forge/pm2 time ratio: sandboxed ${(forge.readyMs / pm2.readyMs).toFixed(2)} | isolation off ${(unisolated.readyMs / pm2.readyMs).toFixed(2)}`);
    console.log(`  peak memory:   sandboxed ${toMb(forge.memory.totalBytes)} MB | isolation off ${toMb(unisolated.memory.totalBytes)} MB`);
    console.log(`  cutover new version: sandboxed ${forge.swap.newVersionMs} ms | isolation off ${unisolated.swap.newVersionMs} ms; failed requests ${forge.swap.failed} | ${unisolated.swap.failed}`);
    console.log('  (isolation off also drops the cgroups: builds and apps run without the 0.1-CPU cap, so it is faster than Forge ever was with limits;' +
      ' compare the sandboxed ratio with a run of the commit before the sandbox on the same machine)');
  }
}

function cleanupDirs(): void {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
}

/** Last resort (over time, or a signal): our PM2 daemon via `pm2 kill`, our own child processes, our dirs. */
function emergencyStop(why: string): never {
  console.error(`bench/pm2.ts: ${why}; stopping everything it started`);
  for (const dir of dirs) {
    const home = path.join(dir, 'pm2-home');
    if (existsSync(home)) spawnSync(PM2_BIN, ['kill'], { env: { ...process.env, PM2_HOME: home }, stdio: 'ignore', timeout: 15_000 });
  }
  for (const pid of descendants(process.pid)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
  cleanupDirs();
  process.exit(1);
}

// The halves stop what they started in `finally`; this only catches a hang.
const overall = setTimeout(() => emergencyStop(`over ${OVERALL_LIMIT_MS} ms`), OVERALL_LIMIT_MS);
overall.unref();
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => emergencyStop(`got ${signal}`));

try {
  await main();
} catch (error) {
  console.error(error);
  process.exitCode = 1;
} finally {
  clearTimeout(overall);
  cleanupDirs();
}
