// /healthz latency while hostile YAML is being refused (issue 22): the real control
// plane on 127.0.0.1:0; a child process keeps sending POST /api/v1/apply bodies of
// ~1 MiB nested `[`, ~400 KiB nested `[` and ~450 KiB of broken documents (the last
// is parsed on the worker thread), while this process asks /healthz every 10 ms.
// Prints the worst and p99 /healthz latency per attack, target ≤ 100 ms.

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateApiKey } from '../api/auth.ts';
import { resolveConfig } from '../api/config.ts';
import { startControlPlane } from '../api/control-plane.ts';
import { openWorldProvider } from '../test/fakes/world-provider.ts';

const DURATION_MS = Number(process.env.BENCH_DURATION_S ?? 5) * 1000;

const ATTACKS: [string, string][] = [
  ['1 MiB of nested [', '['.repeat(1_000_000)],
  ['400 KiB of nested [', `name: a\nimage: x\nlabels: ${'['.repeat(400 * 1024)}`],
  ['450 KiB of broken documents', Array.from({ length: 9_000 }, (_, i) => `name: s${i}\nport: high\n---`).join('\n')],
];

const ATTACKER = `
const [url, key, file, ms] = process.argv.slice(1);
const body = require('node:fs').readFileSync(file, 'utf8');
const until = Date.now() + Number(ms);
let sent = 0;
(async () => {
  while (Date.now() < until) {
    const res = await fetch(url, { method: 'POST', headers: { 'x-api-key': key, 'content-type': 'application/json' }, body });
    await res.arrayBuffer();
    sent += 1;
  }
  console.log(sent);
})();
`;

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0;
}

const dir = mkdtempSync(join(tmpdir(), 'forge-bench-parser-'));
const { config } = resolveConfig({ FORGE_DATA_DIR: dir, FORGE_API_ADDR: '127.0.0.1:0' }, {}, (n) => Buffer.alloc(n, 5), dir);
const plane = await startControlPlane(config, { env: {}, providers: [openWorldProvider({ path: ':memory:' })], logger: false, noLocalAgent: true });
try {
  const key = generateApiKey();
  plane.store.apiKeys.create({ name: 'bench', hash: key.hash, prefix: key.prefix });
  for (let i = 0; i < 5; i += 1) await (await fetch(`${plane.url}/healthz`)).arrayBuffer(); // warm up
  for (const [label, text] of ATTACKS) {
    const file = join(dir, 'body.json');
    writeFileSync(file, JSON.stringify({ specs: [{ file: 'bomb.yaml', text }] }));
    const attacker = spawn(process.execPath, ['-e', ATTACKER, `${plane.url}/api/v1/apply`, key.key, file, String(DURATION_MS)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let sent = '';
    attacker.stdout.on('data', (chunk: Buffer) => { sent += chunk.toString(); });
    const exited = new Promise((resolve) => attacker.once('exit', resolve));
    await new Promise((resolve) => setTimeout(resolve, 300)); // the attacker's node starting up is not the server's latency
    const latencies: number[] = [];
    const until = Date.now() + DURATION_MS;
    while (Date.now() < until) {
      const started = performance.now();
      await (await fetch(`${plane.url}/healthz`)).arrayBuffer();
      latencies.push(performance.now() - started);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await exited;
    const sorted = [...latencies].sort((a, b) => a - b);
    console.log(`healthz during ${label}: ${Math.round(sorted[sorted.length - 1] ?? 0)} ms worst (p99 ${Math.round(percentile(sorted, 0.99))} ms, ${latencies.length} probes, ${sent.trim()} hostile requests refused; target ≤ 100 ms)`);
  }
} finally {
  await plane.close();
  rmSync(dir, { recursive: true, force: true });
}
