// First deploy vs edit-and-redeploy (issue 14), end to end and side by side in
// one run: `forge apply -f` (the real CLI: pack, upload, apply, wait) of an
// Express app against a whole one-machine Forge (control plane, embedded agent,
// managed caddy), timed until the new version answers through caddy; then a
// one-line source edit and the same again. Beside each: the agent's own build
// time for that release, and the build-cache figure (second build / first build,
// target ≤ 20%).
//
//   node --import tsx bench/deploy-edit.ts     (as root: sandboxes need cgroups)
//
// Needs the npm registry once (the first build installs express).

import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { request } from 'undici';
import { generateApiKey } from '../api/auth.ts';
import { resolveConfig } from '../api/config.ts';
import { startControlPlane } from '../api/control-plane.ts';
import { sweepSandboxes } from '../agent/sandbox/index.ts';
import { runCli } from '../cli/index.ts';
import { startRouting } from '../router/start.ts';
import { freePort } from '../test/helpers/net.ts';
import { expressServer } from './lib/express-app.ts';

const NAME = 'bench-express';

const work = mkdtempSync(path.join(tmpdir(), 'forge-bench-deploy-edit-'));
const app = path.join(work, 'app');
const cgroupRoot = `forge-bench-deploy-edit-${process.pid}`;
const stops: Array<() => Promise<unknown>> = [];

try {
  mkdirSync(app);
  writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: NAME, version: '1.0.0', private: true, dependencies: { express: '^4.21.0' } }, null, 2));
  writeFileSync(path.join(app, 'server.js'), expressServer('v1'));
  writeFileSync(path.join(app, 'forge.yaml'), [
    `name: ${NAME}`, 'provider: agent', 'source: .', 'build:', '  commands: [npm install]', 'run:', '  command: node server.js',
    'health:', '  path: /health', '  interval: 300ms', '',
  ].join('\n'));
  // The lockfile is the app's (not timed): builds install exactly what it pins.
  execFileSync('npm', ['install', '--package-lock-only', '--no-audit', '--no-fund'], { cwd: app, stdio: 'ignore', env: { ...process.env, npm_config_cache: path.join(work, 'lock-cache') } });

  const httpAddr = `127.0.0.1:${await freePort()}`;
  const adminAddr = `127.0.0.1:${await freePort()}`;
  const env = { PATH: process.env.PATH, FORGE_HTTP_ADDR: httpAddr, FORGE_DATA_DIR: path.join(work, 'data'), FORGE_API_ADDR: '127.0.0.1:0' };
  const { config } = resolveConfig(env, {}, randomBytes, work);
  const routing = await startRouting({ env, dataDir: config.dataDir, domain: 'localhost', production: false, mode: 'managed', adminAddr });
  stops.push(() => routing.stop());
  const from = 22_000 + Math.floor(Math.random() * 100) * 100;
  const plane = await startControlPlane(config, {
    env, logger: false, resyncIntervalMs: 1_000, heartbeatIntervalMs: 500,
    ...(routing.router ? { routes: routing.router } : {}),
    localAgent: { portRange: { from, to: from + 99 }, cgroupRoot },
  });
  stops.unshift(() => plane.close(), () => sweepSandboxes(cgroupRoot));
  const { key, hash, prefix } = generateApiKey();
  plane.store.apiKeys.create({ name: 'bench', hash, prefix });

  async function answer(): Promise<string> {
    try {
      const res = await request(`http://${httpAddr}/`, { headers: { host: `${NAME}.localhost`, connection: 'close' }, headersTimeout: 2_000, bodyTimeout: 2_000 });
      return (await res.body.text()).trim();
    } catch {
      return '';
    }
  }

  /** Wall time of `forge apply` until `version` answers through caddy, and the agent's build time of that release. */
  async function deploy(version: string): Promise<{ applyMs: number; servingMs: number; buildMs: number; reused: boolean }> {
    const started = Date.now();
    const result = await runCli(['apply', '-f', path.join(app, 'forge.yaml'), '--timeout', '5m'], {
      cwd: work, env: { HOME: work, FORGE_URL: plane.url, FORGE_API_KEY: key },
    });
    const applyMs = Date.now() - started;
    if (result.exitCode !== 0) throw new Error(`forge apply failed:\n${result.stdout}${result.stderr}`);
    for (let i = 0; i < 600 && (await answer()) !== `hello ${version}`; i += 1) await new Promise((r) => setTimeout(r, 100));
    const servingMs = Date.now() - started;
    const run = plane.store.tasks.listFor(NAME).find((t) => t.kind === 'run');
    const logged = run ? plane.store.tasks.logs(run.id) : [];
    const lines = logged.map((l) => l.line);
    // BENCH_VERBOSE=1: the run task's progress, in ms since the apply started (where the time goes).
    if (process.env.BENCH_VERBOSE) for (const l of logged) console.log(`  +${Date.parse(l.time) - started} ms  ${l.line}`);
    const built = lines.map((l) => /^build finished in (\d+) ms$/.exec(l)).find(Boolean);
    return { applyMs, servingMs, buildMs: Number(built?.[1] ?? NaN), reused: lines.some((l) => l.startsWith('reusing the previous release')) };
  }

  const first = await deploy('v1');
  writeFileSync(path.join(app, 'server.js'), expressServer('v2')); // the one-line edit
  const second = await deploy('v2');

  const ratio = second.buildMs / first.buildMs;
  const row = (label: string, r: typeof first) =>
    `${label.padEnd(26)}${String(r.applyMs).padStart(8)} ms${String(r.servingMs).padStart(10)} ms${String(r.buildMs).padStart(9)} ms   node_modules reused: ${r.reused}`;
  console.log(`first deploy vs edit-and-redeploy: Express app via forge apply (bundle upload, agent build with \`npm install\`, health, caddy)`);
  console.log(`${''.padEnd(26)}${'apply'.padStart(11)}${'serving'.padStart(13)}${'build'.padStart(12)}`);
  console.log(row('first deploy (cold)', first));
  console.log(row('after a one-line edit', second));
  console.log(`edit-and-redeploy / first deploy (serving): ${((second.servingMs / first.servingMs) * 100).toFixed(1)}%`);
  console.log(`load while measuring (1-minute load average, ${cpus().length} CPUs): ${loadavg()[0]!.toFixed(2)}`);
  console.log(`build cache: second/first build ${(ratio * 100).toFixed(1)}% (target ≤ 20%) ${ratio <= 0.2 ? 'PASS' : 'FAIL'}`);
  if (!(ratio <= 0.2)) process.exitCode = 1;
} finally {
  for (const stop of stops) await stop().catch(() => undefined);
  rmSync(work, { recursive: true, force: true });
}
