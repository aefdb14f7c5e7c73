// Start-up time of the forge command: `forge --version` and `forge list` against a
// running `forge server`, median of 20 each, run from the TypeScript sources
// through tsx (before) and from the compiled dist/ (after), side by side, with
// bare `node -e 0` as the floor this machine sets, in interleaved rounds. Run: npx tsx bench/startup.ts
// Target (issue 17): ≤ 150 ms for `forge --version`.

import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../test/helpers/net.ts';
import { forgeNodeFlags } from './lib/node-flags.ts';

const RUNS = 20;
const REPO = fileURLToPath(new URL('../', import.meta.url));
const BIN = join(REPO, 'bin', 'forge');
const FLAGS = forgeNodeFlags();
const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Wall time of one process from spawn to exit, in ms; throws when it fails. */
function timeOnce(args: readonly string[], env: NodeJS.ProcessEnv): number {
  const start = performance.now();
  const result = spawnSync(process.execPath, args, { env, encoding: 'utf8', timeout: 30_000 });
  const ms = performance.now() - start;
  if (result.status !== 0) throw new Error(`${args.join(' ')} exited ${result.status}: ${result.stderr}`);
  return ms;
}

const TIME = '/usr/bin/time';

/** CPU time (user + system) of one process, in ms: less sensitive than wall time to a busy machine. */
function cpuOnce(args: readonly string[], env: NodeJS.ProcessEnv): number {
  const result = spawnSync(TIME, ['-f', '@cpu %U %S', process.execPath, ...args], { env, encoding: 'utf8', timeout: 30_000 });
  const line = result.stderr.split('\n').find((l) => l.startsWith('@cpu '));
  if (result.status !== 0 || !line) throw new Error(`${args.join(' ')}: ${result.stderr}`);
  const [, user, sys] = line.split(' ');
  return (Number(user) + Number(sys)) * 1000;
}

/**
 * Medians of several commands measured in interleaved rounds (one run of each per round), so a
 * change in the machine's load during the bench moves every column alike.
 */
function interleaved(commands: readonly { args: readonly string[]; env: NodeJS.ProcessEnv }[], measure = timeOnce): number[] {
  for (const c of commands) measure(c.args, c.env); // warm the file cache once, as a user's second call would be
  const times: number[][] = commands.map(() => []);
  for (let round = 0; round < RUNS; round += 1) commands.forEach((c, i) => times[i]!.push(measure(c.args, c.env)));
  return times.map(median);
}

execFileSync('bash', [join(REPO, 'scripts', 'build.sh')], { stdio: 'inherit' });

const dataDir = mkdtempSync(join(tmpdir(), 'forge-bench-startup-'));
const port = await freePort();
const baseEnv = { ...process.env, FORGE_DATA_DIR: dataDir, FORGE_MODE: 'development', FORGE_URL: `http://127.0.0.1:${port}`, FORGE_CLI_FROM: 'dist' };
const key = (JSON.parse(execFileSync(process.execPath, [...FLAGS, BIN, 'keys', 'create', '--json'], { env: baseEnv, encoding: 'utf8' })) as { key: string }).key;
const env = { ...baseEnv, FORGE_API_KEY: key };
const server = spawn(process.execPath, [...FLAGS, BIN, 'server', '--addr', `127.0.0.1:${port}`, '--no-local-agent', '--router', 'off'], { env, stdio: ['ignore', 'pipe', 'inherit'] });
try {
  await new Promise<void>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`forge server did not start: ${out}`)), 60_000);
    server.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('API listening')) {
        clearTimeout(timer);
        resolve();
      }
    });
    server.once('exit', (code) => reject(new Error(`forge server exited ${code}: ${out}`)));
  });
  server.stdout!.resume();

  const run = (command: string[], from: 'ts' | 'dist') => ({ args: [...FLAGS, BIN, ...command], env: { ...env, FORGE_CLI_FROM: from } });
  const commands = [{ args: ['-e', '0'], env }, run(['--version'], 'ts'), run(['--version'], 'dist'), run(['list'], 'ts'), run(['list'], 'dist')];
  const [floor, versionTs, versionDist, listTs, listDist] = interleaved(commands) as [number, number, number, number, number];
  const rows: [string, number, number][] = [['forge --version', versionTs, versionDist], ['forge list', listTs, listDist]];

  console.log(`| command (median of ${RUNS}) | before: tsx | after: compiled | speed-up |`);
  console.log('| --- | ---: | ---: | ---: |');
  console.log(`| node -e 0 (the floor on this machine) | ${floor.toFixed(0)} ms | ${floor.toFixed(0)} ms | — |`);
  for (const [label, before, after] of rows) console.log(`| ${label} | ${before.toFixed(0)} ms | ${after.toFixed(0)} ms | ${(before / after).toFixed(1)}× |`);
  console.log('');
  console.log(`node floor: ${floor.toFixed(0)} ms`);
  const [version, list] = rows;
  console.log(`forge --version tsx: ${version![1].toFixed(0)} ms`);
  console.log(`forge --version compiled: ${version![2].toFixed(0)} ms (median of ${RUNS}; target ≤ 150 ms)`);
  console.log(`forge list tsx: ${list![1].toFixed(0)} ms`);
  console.log(`forge list compiled: ${list![2].toFixed(0)} ms (median of ${RUNS})`);
  console.log(`forge --version above the node floor: ${(version![2] - floor).toFixed(0)} ms`);
  if (existsSync(TIME)) {
    // Wall time on a shared machine mostly measures the others' load; CPU time is what forge itself costs.
    const [cpuFloor, cpuVersionTs, cpuVersion, cpuListTs, cpuList] = interleaved(commands, cpuOnce) as [number, number, number, number, number];
    console.log('');
    console.log(`node floor cpu: ${cpuFloor.toFixed(0)} ms`);
    console.log(`forge --version cpu tsx: ${cpuVersionTs.toFixed(0)} ms`);
    console.log(`forge --version cpu compiled: ${cpuVersion.toFixed(0)} ms (user + system, median of ${RUNS})`);
    console.log(`forge list cpu tsx: ${cpuListTs.toFixed(0)} ms`);
    console.log(`forge list cpu compiled: ${cpuList.toFixed(0)} ms`);
  }
} finally {
  server.kill('SIGTERM');
  await new Promise((resolve) => (server.exitCode !== null ? resolve(undefined) : server.once('exit', resolve)));
  rmSync(dataDir, { recursive: true, force: true });
}
