// Chaos: `forge server` as one machine runs it (the real CLI: control plane, its
// embedded agent and the managed caddy) SIGKILLed 10 times at random points while
// 3 services are created and redeployed, as the OOM killer would. A SIGKILL takes
// only the Forge process: its caddy and its apps live on as orphans. Each restart
// must clear what the dead run left (the agent sweeps its cgroup root, the router
// ends the caddy named by its pid file), then converge. At the end every service
// answers its latest release through caddy, exactly one caddy runs for the data
// dir, every process under the data dir belongs to a live instance, and a SIGTERM
// leaves no process, no caddy and no cgroup behind.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { generateApiKey } from '../../api/auth.ts';
import { sweepSandboxes } from '../../agent/sandbox/index.ts';
import { isOurCaddy } from '../../router/stale-caddy.ts';
import { openStore, type Store } from '../../store/index.ts';
import { freePort } from '../e2e/stack.ts';
import { rng } from '../fuzz/spec-cases.ts';
import { processesUnder, rootExists, sandboxCgroups } from './host-scan.ts';

const FORGE = fileURLToPath(new URL('../../bin/forge', import.meta.url));
const KILLS = 10;
const NAMES = ['alpha', 'beta', 'gamma'];
const needsRoot = process.getuid?.() === 0 ? false : 'needs root for cgroups and namespaces';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const dead = (child: ChildProcess) => child.exitCode !== null || child.signalCode !== null;

// The app answers with the REV of its release, so a test can tell releases apart.
const SERVER_JS = `const { createServer } = require('node:http');
const server = createServer((req, res) => {
  if (req.url === '/health') return res.writeHead(200).end('ok');
  res.writeHead(200, { 'content-type': 'text/plain' }).end('rev ' + process.env.REV + '\\n');
});
server.listen(Number(process.env.PORT));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
`;

function exited(child: ChildProcess): Promise<void> {
  return dead(child) ? Promise.resolve() : new Promise((resolve) => child.once('exit', () => resolve()));
}

/** Every process running `caddy run --config <configPath>`. */
function caddiesFor(configPath: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let cmdline = '';
    try { cmdline = readFileSync(`/proc/${name}/cmdline`, 'utf8'); } catch { continue; }
    if (isOurCaddy(cmdline, configPath)) out.push(Number(name));
  }
  return out;
}

test(`forge server SIGKILLed ${KILLS} times while services deploy: each restart clears the orphans, converges, and nothing is left after a stop`, { skip: needsRoot, timeout: 300_000 }, async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'forge-chaos-server-'));
  const appDir = path.join(dir, 'app');
  mkdirSync(appDir);
  writeFileSync(path.join(appDir, 'server.js'), SERVER_JS);
  const dataDir = path.join(dir, 'data');
  // As control-plane.ts names the embedded agent's cgroup root: one per data dir.
  const root = `forge-local-${createHash('sha256').update(dataDir).digest('hex').slice(0, 8)}`;
  const caddyConfig = path.join(dataDir, 'caddy', 'caddy.json');
  const [apiPort, httpPort, adminPort] = [await freePort(), await freePort(), await freePort()];
  const api = `http://127.0.0.1:${apiPort}`;
  const env = {
    PATH: process.env.PATH ?? '', HOME: dir, FORGE_DATA_DIR: dataDir, FORGE_API_ADDR: `127.0.0.1:${apiPort}`,
    FORGE_HTTP_ADDR: `127.0.0.1:${httpPort}`, FORGE_CADDY_ADMIN: `127.0.0.1:${adminPort}`,
  };
  const random = rng(20_261_123);
  const revs = new Map<string, number>();
  let server: ChildProcess | undefined;
  let killedWith = { caddies: 0, apps: 0 };

  const start = async (): Promise<ChildProcess> => {
    const child = spawn(process.execPath, [FORGE, 'server'], { env, cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] });
    server = child; // so the finally below ends it whatever happens next
    for (let i = 0; i < 300; i += 1) {
      assert.ok(!dead(child), `forge server exited while starting (${child.signalCode ?? child.exitCode})`);
      const up = await fetch(`${api}/healthz`).then((r) => r.ok, () => false);
      if (up) return child;
      await sleep(100);
    }
    throw new Error('forge server did not answer /healthz in 30 s');
  };
  let store: Store | undefined;
  const { key, hash, prefix } = generateApiKey();
  /** Applies the desired set; a request that met a dying server is sent again. */
  const apply = async () => {
    for (let attempt = 0; attempt < 20; attempt += 1) {
      const code = await fetch(`${api}/api/v1/apply`, {
        method: 'POST', headers: { 'x-api-key': key, 'content-type': 'application/json' },
        body: JSON.stringify({
          source: 'chaos', specs: [...revs].map(([name, rev]) => ({
            name, provider: 'agent', source: appDir, build: { commands: ['node --check server.js'] }, run: { command: 'node server.js' },
            port: 8080, memory: '256M', resources: { cpu: 0.25 }, env: { REV: String(rev) },
            health: { path: '/health', interval: '1s', timeout: '900ms', retries: 3 },
          })),
        }),
      }).then((r) => r.status, () => 0);
      assert.ok(code === 0 || code === 200, `apply answered ${code}`);
      if (code === 200) return;
      await sleep(200);
    }
    throw new Error('the apply got no 200 in 20 tries');
  };

  try {
    server = await start();
    // The first start wrote the data dir; a key for the API goes straight into its store.
    store = openStore(dataDir);
    store.apiKeys.create({ name: 'chaos', hash, prefix });
    for (let kill = 0; kill < KILLS; kill += 1) {
      const name = NAMES[kill % NAMES.length]!;
      revs.set(name, (revs.get(name) ?? 0) + 1); // a create the first time round, then a redeploy
      await apply();
      await sleep(random() * 3_000);
      killedWith = { caddies: caddiesFor(caddyConfig).length, apps: (await processesUnder(dataDir, root)).filter((p) => p.cmdline === 'node server.js').length };
      server.kill('SIGKILL');
      await exited(server);
      server = await start();
    }

    // Converged: each service answers its latest REV through caddy, by Host header.
    const answers = async () => Promise.all(NAMES.map(async (name) => {
      const res = await request(`http://127.0.0.1:${httpPort}/`, { headers: { host: `${name}.localhost`, connection: 'close' } }).catch(() => null);
      return res ? `${res.statusCode} ${(await res.body.text()).trim()}` : 'no answer';
    }));
    const wanted = NAMES.map((name) => `200 rev ${revs.get(name)}`);
    let got: string[] = [];
    const convergeStart = Date.now();
    for (let i = 0; i < 600; i += 1) {
      got = await answers();
      if (got.join() === wanted.join() && NAMES.every((n) => store!.status.get(n)?.phase === 'running')) break;
      await sleep(100);
    }
    assert.deepEqual(got, wanted);
    const convergedIn = Date.now() - convergeStart;

    // Nothing orphaned: one caddy, and every process under the data dir is in a live instance's cgroup.
    let problems: string[] = ['not checked yet'];
    for (let i = 0; i < 60 && problems.length > 0; i += 1) {
      problems = [];
      const caddies = caddiesFor(caddyConfig);
      if (caddies.length !== 1) problems.push(`${caddies.length} caddies run for this data dir: ${caddies.join(', ')}`);
      const cgroups = await sandboxCgroups(root);
      const apps = await processesUnder(dataDir, root);
      for (const p of apps) if (![...cgroups.values()].some((pids) => pids.includes(p.pid))) problems.push(`process ${p.pid} (${p.cmdline}) in no sandbox`);
      const nodes = apps.filter((p) => p.cmdline === 'node server.js').length;
      if (nodes !== NAMES.length) problems.push(`${nodes} app processes for ${NAMES.length} replicas`);
      if (cgroups.size !== NAMES.length) problems.push(`${cgroups.size} sandbox cgroups for ${NAMES.length} replicas`);
      if (problems.length > 0) await sleep(250);
    }
    assert.deepEqual(problems, []);

    server.kill('SIGTERM');
    await exited(server);
    assert.equal(server.exitCode, 0);
    assert.deepEqual(caddiesFor(caddyConfig), [], 'caddy stopped with the server');
    assert.deepEqual((await processesUnder(dataDir, root)).map((p) => p.cmdline), [], 'no process left under the data dir');
    assert.equal(await rootExists(root), false, 'the embedded agent removed its cgroup root');
    t.diagnostic(`chaos server: ${KILLS} SIGKILLs of forge server (control plane + embedded agent + managed caddy) during ${KILLS} deploys of ${NAMES.length} services; ` +
      `the last kill orphaned ${killedWith.caddies} caddy and ${killedWith.apps} app processes; converged ${(convergedIn / 1000).toFixed(1)} s after the last restart with 1 caddy and 1 process per replica; ` +
      'after SIGTERM: 0 processes, 0 caddies, 0 cgroups');
  } finally {
    store?.close();
    if (server && !dead(server)) {
      server.kill('SIGKILL');
      await exited(server);
    }
    // What a failed run may have left: caddies on our config (by pid), our sandboxes.
    for (const pid of caddiesFor(caddyConfig)) process.kill(pid, 'SIGKILL');
    await sweepSandboxes(root).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
});
