// The full spec fuzz: 100,000 cases split across one process per core, each
// printing its tally as JSON; the parent adds them up and prints the summary.
// Exit code 1 on any crash or unpositioned rejection.
//
//   node --import tsx test/fuzz/run-specs.ts [--cases=100000] [--seed=1] [--workers=<cores>]

import { spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { addTallies, emptyTally, runSpecFuzz, summaryLines, type FuzzTally } from './specs-fuzz.ts';

const argv = process.argv.slice(2);
const option = (name: string, fallback: number): number => {
  const raw = argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  const value = raw === undefined ? fallback : Number(raw);
  if (!Number.isInteger(value) || value < 0) throw new Error(`--${name} must be a whole number`);
  return value;
};

type WorkerTally = FuzzTally & { warnings: number };

function worker(seed: number, from: number, to: number): Promise<WorkerTally> {
  return new Promise((resolve, reject) => {
    const self = fileURLToPath(import.meta.url);
    const child = spawn(process.execPath, ['--import', 'tsx', self, `--worker=${from}:${to}`, `--seed=${seed}`], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => { out += c.toString(); });
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`fuzz worker for cases ${from}..${to} exited with ${code}`));
      resolve(JSON.parse(out.trim().split('\n').at(-1)!) as WorkerTally);
    });
  });
}

const seed = option('seed', 1);
const range = argv.find((a) => a.startsWith('--worker='))?.slice('--worker='.length);
if (range !== undefined) {
  const [from, to] = range.split(':').map(Number) as [number, number];
  // The yaml library warns on stderr (process warnings) about collection keys; counted, not printed 10,000 times.
  let warnings = 0;
  process.removeAllListeners('warning');
  process.on('warning', () => { warnings += 1; });
  const tally = runSpecFuzz(seed, from, to);
  process.stdout.write(`${JSON.stringify({ ...tally, warnings })}\n`);
} else {
  const cases = option('cases', 100_000);
  const workers = Math.max(1, Math.min(option('workers', availableParallelism()), cases));
  const started = performance.now();
  const slices = Array.from({ length: workers }, (_, w) => [Math.floor((cases * w) / workers), Math.floor((cases * (w + 1)) / workers)] as const);
  const tallies = await Promise.all(slices.map(([from, to]) => worker(seed, from, to)));
  const total = tallies.reduce(addTallies, emptyTally());
  for (const line of summaryLines(total)) console.log(line);
  const warnings = tallies.reduce((n, t) => n + t.warnings, 0);
  if (warnings > 0) console.log(`(${warnings} process warnings from the yaml library, e.g. "Keys with collection values will be stringified", were counted instead of printed)`);
  console.log(`(seed ${seed}, ${workers} processes, ${((performance.now() - started) / 1000).toFixed(1)} s)`);
  for (const f of total.failures) console.log(`  case ${f.index} ${f.kind}: ${f.detail}`);
  if (total.crashes + total.unpositioned + total.objectCrashes > 0) process.exitCode = 1;
}
