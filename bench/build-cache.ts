// Build cache figure (issue 14): an Express app with a real npm dependency,
// deployed through the agent's own path (bundle → work dir → build with caches →
// start → health), then deployed again after a one-line source edit. Prints both
// build times side by side; the target is second ≤ 20% of first.
//
//   npx tsx bench/build-cache.ts
//
// Needs the npm registry (the first build installs express), root for cgroups.

import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createBundleStore } from '../api/bundle-store.ts';
import { bundleSource } from '../agent/bundle-fetch.ts';
import { createPortPool } from '../agent/runner/ports.ts';
import { sweepSandboxes } from '../agent/sandbox/index.ts';
import { createSupervisor } from '../agent/supervisor.ts';
import { packBundle } from '../specs/bundle.ts';
import { normalizeSpec } from '../specs/normalize.ts';
import { expressServer } from './lib/express-app.ts';

const work = mkdtempSync(path.join(tmpdir(), 'forge-bench-build-cache-'));
const app = path.join(work, 'app');
const cgroupRoot = `forge-bench-cache-${process.pid}`;

try {
  mkdirSync(app);
  writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'bench-express', version: '1.0.0', private: true, dependencies: { express: '^4.21.0' } }, null, 2));
  writeFileSync(path.join(app, 'server.js'), expressServer('v1'));
  // The lockfile is the app's (not timed): builds install exactly what it pins.
  execFileSync('npm', ['install', '--package-lock-only', '--no-audit', '--no-fund'], { cwd: app, stdio: 'ignore', env: { ...process.env, npm_config_cache: path.join(work, 'lock-cache') } });

  const bundles = createBundleStore(path.join(work, 'control-bundles'), 100 * 1024 * 1024);
  const supervisor = createSupervisor({
    dataDir: path.join(work, 'agent'), ports: createPortPool({ from: 24_000, to: 24_099 }), host: '127.0.0.1', mode: 'development',
    cgroupRoot, onChange() {}, log() {},
    bundleSource: (digest) => bundleSource(path.join(work, 'agent', 'bundles'), digest, async (d) => {
      const file = await bundles.file(d);
      return (await import('node:stream')).Readable.toWeb((await import('node:fs')).createReadStream(file!)) as ReadableStream<Uint8Array>;
    }),
  });

  async function deploy(generation: number): Promise<{ buildMs: number; totalMs: number; reused: boolean }> {
    const bundle = await packBundle(app);
    await bundles.putPacked(bundle);
    const spec = { ...normalizeSpec({ name: 'bench-express', provider: 'agent', source: app, build: { commands: ['npm install'] }, run: { command: 'node server.js' }, health: { path: '/health' } }), revision: bundle.digest };
    const lines: string[] = [];
    const started = Date.now();
    const result = await supervisor.run({ instanceId: `inst_bench_${generation}`, spec, hash: bundle.digest, generation, replica: 0 }, {
      secrets: {}, signal: new AbortController().signal, onLine: (line) => lines.push(line),
    });
    const totalMs = Date.now() - started;
    if (!result.ok) throw new Error(`deploy ${generation} failed: ${JSON.stringify(result.result)}\n${lines.join('\n')}`);
    const build = lines.map((l) => /^build finished in (\d+) ms$/.exec(l)).find(Boolean);
    return { buildMs: Number(build?.[1]), totalMs, reused: lines.some((l) => l.startsWith('reusing the previous release')) };
  }

  const first = await deploy(1);
  await supervisor.stop({ instanceId: 'inst_bench_1', remove: true }, 2_000);
  writeFileSync(path.join(app, 'server.js'), expressServer('v2')); // the one-line edit
  const second = await deploy(2);
  await supervisor.stopAll(2_000);

  const ratio = second.buildMs / first.buildMs;
  console.log('build cache: Express app (express from the npm registry), build command `npm install`');
  console.log('                         build     build+start+health');
  console.log(`first deploy (cold)      ${String(first.buildMs).padStart(6)} ms  ${String(first.totalMs).padStart(6)} ms`);
  console.log(`after a one-line edit    ${String(second.buildMs).padStart(6)} ms  ${String(second.totalMs).padStart(6)} ms  (node_modules reused: ${second.reused})`);
  console.log(`second/first build: ${(ratio * 100).toFixed(1)}% (target ≤ 20%) ${ratio <= 0.2 ? 'PASS' : 'FAIL'}`);
  if (ratio > 0.2) process.exitCode = 1;
} finally {
  await sweepSandboxes(cgroupRoot).catch(() => undefined);
  rmSync(work, { recursive: true, force: true });
}
