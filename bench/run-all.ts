// `npm run bench`: runs every bench/*.ts (not this file) as a child process,
// repeats the cheap ones, and writes bench/RESULTS.md with the machine, a table
// of medians against their targets, and each bench's raw output.
//
// Bounded: a total budget (default 600 s) and a per-run timeout (default 240 s).
// Every bench runs once first; then benches that took under `--cheap` seconds run
// again, round-robin, until each has `--runs` runs or the budget would be passed.
// A bench that fails or times out is reported as failed in the table.
//
//   npx tsx bench/run-all.ts [--runs=3] [--budget=600] [--timeout=240] [--cheap=60]
//                            [--only=api,fly] [--dir=bench] [--out=bench/RESULTS.md]

import { spawn } from 'node:child_process';
import { readdirSync, renameSync, writeFileSync } from 'node:fs';
import { cpus, totalmem, release, platform } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderResults, renderTable, summarize, succeeded, type BenchRecord, type BenchRun, type Machine } from './lib/figures.ts';
import { forgeNodeFlags } from './lib/node-flags.ts';

const SELF = fileURLToPath(import.meta.url);
const REPO = resolve(dirname(SELF), '..');

interface Options {
  runs: number;
  budgetMs: number;
  timeoutMs: number;
  cheapMs: number;
  only: string[] | null;
  dir: string;
  out: string;
}

function parseOptions(argv: readonly string[]): Options {
  const get = (name: string) => argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  const num = (name: string, fallback: number) => {
    const value = Number(get(name) ?? fallback);
    if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} must be a positive number`);
    return value;
  };
  const dir = resolve(get('dir') ?? join(REPO, 'bench'));
  return {
    runs: Math.floor(num('runs', 3)),
    budgetMs: num('budget', 600) * 1000,
    timeoutMs: num('timeout', 240) * 1000,
    cheapMs: num('cheap', 60) * 1000,
    only: get('only')?.split(',').filter((s) => s !== '') ?? null,
    dir,
    out: resolve(get('out') ?? join(dir, 'RESULTS.md')),
  };
}

function benchFiles(options: Options): string[] {
  return readdirSync(options.dir)
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts') && join(options.dir, f) !== SELF && f !== 'run-all.ts')
    .filter((f) => options.only === null || options.only.includes(basename(f, '.ts')))
    .sort()
    .map((f) => join(options.dir, f));
}

/** One run of one bench in its own process group, so a timeout ends the bench and everything it started. */
function runBench(file: string, timeoutMs: number): Promise<BenchRun> {
  return new Promise((done) => {
    const started = performance.now();
    const child = spawn(process.execPath, [...forgeNodeFlags(), '--import', 'tsx', file], {
      cwd: REPO, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FORCE_COLOR: '0' },
    });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => chunks.push(c));
    child.stderr.on('data', (c: Buffer) => chunks.push(c));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    }, timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      done({ exitCode: code, timedOut, durationMs: performance.now() - started, output: Buffer.concat(chunks).toString('utf8') });
    });
  });
}

function machine(): Machine {
  const list = cpus();
  return {
    cpus: list.length,
    cpuModel: list[0]?.model.trim() ?? 'unknown CPU',
    memoryGb: totalmem() / 1024 ** 3,
    // Each bench process runs with the V8 flags the forge command uses.
    node: [process.version, ...forgeNodeFlags()].join(' '),
    platform: `${platform()} ${release()}`,
    date: new Date().toISOString(),
  };
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const files = benchFiles(options);
  const records: BenchRecord[] = files.map((f) => ({ name: basename(f, '.ts'), runs: [] }));
  const started = performance.now();
  const elapsed = () => performance.now() - started;
  const log = (text: string) => process.stderr.write(`${text}\n`);

  // Every bench once, each bounded by the per-run timeout and what is left of the budget.
  for (const [i, file] of files.entries()) {
    const record = records[i]!;
    const left = options.budgetMs - elapsed();
    if (left < 1_000) {
      record.note = 'not run: the time budget was spent by the benches before it';
      continue;
    }
    log(`bench ${record.name} (run 1)…`);
    const run = await runBench(file, Math.min(options.timeoutMs, left));
    record.runs.push(run);
    log(`  ${succeeded(run) ? 'ok' : 'FAILED'} in ${(run.durationMs / 1000).toFixed(1)} s`);
  }

  // Then the cheap ones again, round-robin, while the next run is expected to fit.
  let ran = true;
  while (ran) {
    ran = false;
    for (const [i, file] of files.entries()) {
      const record = records[i]!;
      const last = record.runs.at(-1);
      if (!last || !succeeded(last) || record.runs.length >= options.runs) continue;
      if (last.durationMs > options.cheapMs) {
        record.note ??= `run once: one run took ${(last.durationMs / 1000).toFixed(0)} s (repeats only under ${options.cheapMs / 1000} s)`;
        continue;
      }
      if (elapsed() + last.durationMs * 1.5 > options.budgetMs) {
        record.note ??= `${record.runs.length} run(s): another would pass the ${options.budgetMs / 1000} s budget`;
        continue;
      }
      log(`bench ${record.name} (run ${record.runs.length + 1})…`);
      const run = await runBench(file, Math.min(options.timeoutMs, options.budgetMs - elapsed()));
      record.runs.push(run);
      ran = true;
    }
  }

  const text = renderResults(machine(), records, elapsed());
  const tmp = `${options.out}.tmp-${process.pid}`;
  writeFileSync(tmp, text);
  renameSync(tmp, options.out); // never a half-written RESULTS.md
  console.log(renderTable(summarize(records)));
  console.log(`\nwrote ${options.out} (${files.length} benches, ${Math.round(elapsed() / 1000)} s)`);
  if (records.some((r) => r.runs.some((run) => !succeeded(run)))) process.exitCode = 1;
}

await main();
