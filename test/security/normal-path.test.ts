// Attacker apps deployed the way every app is: `forge apply` (the CLI, over the
// API) → control plane → its agent → crun, served through Caddy. The stack is a
// `forge server` layout: one data dir holding the encryption key, the JWT secret,
// forge.db and the agent's own state, a managed Caddy, the agent's exporter. A
// victim service runs first; the attacker gets every path, pid, port and cgroup
// file of the host it would like to reach and must fail at all of them.
// (test/security/sandbox-escape.test.ts switches each protection off to show the
// same attacks then succeed.)

import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { generateApiKey } from '../../api/auth.ts';
import { resolveConfig, SECRET_FILES } from '../../api/config.ts';
import { startControlPlane, type ControlPlane } from '../../api/control-plane.ts';
import type { AgentHandle } from '../../agent/daemon.ts';
import { startLocalAgent } from '../../agent/local.ts';
import { detectIsolation, isolationComplete, sweepSandboxes } from '../../agent/sandbox/index.ts';
import { startRouting, type Routing } from '../../router/start.ts';
import { eventually, freePort } from '../helpers/net.ts';
import { writeAttacker } from './attacker.ts';

const ROOT_DIR = fileURLToPath(new URL('../../', import.meta.url));
const CGROUP_ROOT = `forge-test-normal-${process.pid}`;
const isolation = process.getuid?.() === 0 ? await detectIsolation({ root: CGROUP_ROOT }) : null;
const skip = isolation === null ? 'needs root' : isolationComplete(isolation) ? false : `isolation incomplete here: ${isolation.missing.join(', ')}`;
const DISK_MB = 32;

const scratch = mkdtempSync(path.join(tmpdir(), 'forge-normal-path-'));
const dataDir = path.join(scratch, 'data');
let routing: Routing | undefined;
let plane: ControlPlane | undefined;
let agent: AgentHandle | undefined;
let apiKey = '';
let httpAddr = '';
let hostVictim: ChildProcess | undefined;

function forge(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return forgeWithEnv({}, ...args);
}

function forgeWithEnv(extra: Record<string, string>, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('node', [path.join(ROOT_DIR, 'bin/forge'), ...args], {
      cwd: scratch, timeout: 120_000, env: { PATH: process.env.PATH, FORGE_URL: plane!.url, FORGE_API_KEY: apiKey, NO_COLOR: '1', ...extra },
    }, (error, stdout, stderr) => resolve({ code: error ? Number((error as { code?: unknown }).code ?? 1) : 0, stdout, stderr }));
  });
}

/** A service folder with attacker.js and a forge.yaml; env holds the attacker's targets (paths and ports, nothing secret). */
function serviceDir(name: string, env: Record<string, string>, build = 'kill -9 -1; true'): string {
  const dir = path.join(scratch, name);
  writeAttacker(dir);
  const envLines = Object.entries(env).map(([k, v]) => `  ${k}: ${JSON.stringify(v)}`);
  writeFileSync(path.join(dir, 'forge.yaml'), [
    `name: ${name}`, 'provider: agent', 'source: .', 'build:', '  commands:', `    - ${JSON.stringify(build)}`, 'run:', '  command: node attacker.js',
    'resources:', '  memory: 256M', '  cpu: 0.5', 'health:', '  path: /', '  interval: 500ms', '  timeout: 1s', '  retries: 3',
    ...(envLines.length > 0 ? ['env:', ...envLines] : []), '',
  ].join('\n'));
  return dir;
}

/** GET / of a service through Caddy. */
async function throughCaddy(name: string): Promise<string> {
  const res = await request(`http://${httpAddr}/`, { headers: { host: `${name}.localhost`, connection: 'close' }, headersTimeout: 3_000, bodyTimeout: 3_000 });
  return `${res.statusCode} ${await res.body.text()}`;
}

function instanceOf(service: string): string | undefined {
  return agent!.instances().find((i) => i.service === service && i.state === 'running')?.id;
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? filesUnder(p) : e.isFile() ? [p] : [];
  });
}

before(async () => {
  if (skip !== false) return;
  mkdirSync(dataDir, { recursive: true });
  // The development-mode files a one-machine `forge server` keeps (production reads them from env).
  writeFileSync(path.join(dataDir, SECRET_FILES.encryptionKey), `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
  writeFileSync(path.join(dataDir, SECRET_FILES.jwtSecret), `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
  httpAddr = `127.0.0.1:${await freePort()}`;
  const agentToken = `fagr_${randomBytes(24).toString('base64url')}`;
  const env = { PATH: process.env.PATH, FORGE_HTTP_ADDR: httpAddr, FORGE_DATA_DIR: dataDir, FORGE_API_ADDR: '127.0.0.1:0', FORGE_AGENT_TOKEN: agentToken };
  const { config } = resolveConfig(env, {
    encryptionKey: readFileSync(path.join(dataDir, SECRET_FILES.encryptionKey), 'utf8'),
    jwtSecret: readFileSync(path.join(dataDir, SECRET_FILES.jwtSecret), 'utf8'),
  }, randomBytes, scratch);
  // Caddy's admin API on its default: a Unix socket in a 0700 dir of the data dir.
  routing = await startRouting({ env, dataDir, domain: 'localhost', production: false, mode: 'managed' });
  plane = await startControlPlane(config, {
    env, logger: false, resyncIntervalMs: 500, heartbeatIntervalMs: 300, noLocalAgent: true,
    ...(routing.router ? { routes: routing.router } : {}),
  });
  agent = await startLocalAgent({
    apiUrl: plane.url, registrationToken: agentToken, dataDir, mode: 'production', cgroupRoot: CGROUP_ROOT,
    portRange: { from: 23_700, to: 23_799 }, heartbeatIntervalMs: 300, metricsPort: 0, metricsHost: '127.0.0.1', diskMb: DISK_MB,
    log: () => undefined,
  });
  const key = generateApiKey();
  plane.store.apiKeys.create({ name: 'security', hash: key.hash, prefix: key.prefix });
  apiKey = key.key;
  // A host process that the attacker's `kill -9 -1` must not reach.
  hostVictim = spawn('sleep', ['300'], { stdio: 'ignore' });
});

after(async () => {
  hostVictim?.kill('SIGKILL');
  await agent?.stop().catch(() => undefined);
  await plane?.close().catch(() => undefined);
  await routing?.stop().catch(() => undefined);
  if (skip === false) await sweepSandboxes(CGROUP_ROOT).catch(() => undefined);
  rmSync(scratch, { recursive: true, force: true });
});

describe('attacker apps deployed through forge apply → control plane → agent → crun', { skip }, () => {
  test('every attempt to reach the host, Forge or another service fails', async () => {
    const victimApply = await forge('apply', '-f', path.join(serviceDir('victim', {}), 'forge.yaml'), '--timeout', '2m');
    assert.equal(victimApply.code, 0, `${victimApply.stdout}\n${victimApply.stderr}`);
    const victimId = await eventually('the victim running', 30_000, () => instanceOf('victim'));
    const victimHandle = agent!.supervisor.handles().find((h) => h.id === victimId)!;
    const victimPid = (await victimHandle.sandbox.pids()).find((pid) => {
      try { return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('attacker.js'); } catch { return false; }
    });
    assert.ok(victimPid, 'the victim app has a host pid');
    const victimFile = path.join(dataDir, 'agent', 'instances', victimId, 'disk', 'app', 'data.txt');
    assert.equal(readFileSync(victimFile, 'utf8'), 'service data\n');
    const neighbourFiles = victimHandle.sandbox.cgroupDirs.flatMap((dir) =>
      ['memory.limit_in_bytes', 'memory.max', 'cpu.cfs_quota_us', 'cpu.max'].map((f) => path.join(dir, f)).filter((f) => existsSync(f)));
    assert.ok(neighbourFiles.length > 0);
    const neighbourBefore = neighbourFiles.map((f) => readFileSync(f, 'utf8'));
    // The control plane's and the agent's files: keys, forge.db, the agent's identities and state.
    const dataFiles = filesUnder(dataDir).filter((f) => !f.includes(`${path.sep}instances${path.sep}`));
    for (const name of [SECRET_FILES.encryptionKey, SECRET_FILES.jwtSecret, 'forge.db']) {
      assert.ok(dataFiles.some((f) => path.basename(f) === name), `${name} is in the data dir: ${dataFiles.join(' ')}`);
    }
    const apiPort = new URL(plane!.url).port;
    const loopbackPorts = [apiPort, httpAddr.split(':')[1]!, String(agent!.metricsPort)];
    const adminSocket = routing!.caddy!.adminUrl.replace(/^unix\//, '');
    assert.ok(statSync(adminSocket).isSocket(), 'caddy admin is a socket');

    const attackerApply = await forge('apply', '-f', path.join(serviceDir('attacker', {
      FORGE_T_DATA_FILES: dataFiles.join(','),
      FORGE_T_SECRET_FILE: path.join(dataDir, SECRET_FILES.encryptionKey),
      FORGE_T_OTHER_FILE: victimFile,
      FORGE_T_OTHER_PID: String(victimPid),
      FORGE_T_FORGE_FILE: path.join(ROOT_DIR, 'bin', 'forge'),
      FORGE_T_AGENT_PID: String(process.pid),
      FORGE_T_LOOPBACK_PORT: apiPort,
      FORGE_T_LOOPBACK_PORTS: loopbackPorts.join(','),
      FORGE_T_ADMIN_SOCKET: adminSocket,
      FORGE_T_NEIGHBOUR_CGROUP_FILES: neighbourFiles.join(','),
    }), 'forge.yaml'), '--timeout', '2m');
    assert.equal(attackerApply.code, 0, `${attackerApply.stdout}\n${attackerApply.stderr}`);
    const answer = await eventually('the attacker through caddy', 30_000, async () => {
      const text = await throughCaddy('attacker').catch(() => '');
      return text.startsWith('200 ') && text;
    });
    const r = JSON.parse(answer.slice(4)) as Record<string, string>;

    assert.equal(r.readDataFiles, 'ENOENT', 'no file of the control plane or agent data dir (keys, forge.db) is in view');
    assert.equal(r.readSecretFile, 'ENOENT');
    assert.equal(r.readOtherService, 'ENOENT', "another service's release is not in view");
    assert.equal(r.readOtherEnviron, 'ENOENT', "another service's /proc/<pid>/environ does not exist in its /proc");
    assert.equal(r.writeForgeFile, 'ENOENT', "Forge's own files are not in view");
    assert.equal(r.hostProcessVisible, 'ENOENT', 'the agent process is not in its /proc');
    assert.ok(Number(r.processCount) <= 5, `lists ${r.processCount} processes`);
    assert.equal(r.loopbackPorts, loopbackPorts.map(() => 'ECONNREFUSED').join(','),
      'control plane API, Caddy HTTP and the agent exporter are not on its loopback');
    assert.equal(r.adminSocket, 'ENOENT', "Caddy's admin socket is not in its view");
    assert.equal(r.cgroupWrite, 'ENOENT', 'no cgroup files are mounted');
    assert.equal(r.raiseOwnLimit, 'ENOENT', 'its own cgroup limits are out of reach');
    assert.equal(r.raiseNeighbourLimit, 'ENOENT', "a neighbour's cgroup limits are out of reach");
    assert.deepEqual(neighbourFiles.map((f) => readFileSync(f, 'utf8')), neighbourBefore);
    assert.notEqual(r.mount, 'ok');
    assert.notEqual(r.umountProc, 'ok', 'its /proc cannot be unmounted to find the host one');
    assert.equal(r.loadModule, 'Operation not permitted');
    assert.equal(r.uid, '1000');
    // The build ran `kill -9 -1`: nothing outside its sandbox got the signal.
    assert.equal(hostVictim!.exitCode, null);
    assert.equal(hostVictim!.signalCode, null);
    assert.equal(instanceOf('victim'), victimId, 'the victim service still runs');
    assert.match(await throughCaddy('victim'), /^200 /);
    assert.equal(statSync(path.join(ROOT_DIR, 'bin', 'forge')).isFile(), true);
  });

  test('a secret set with `forge secrets set --from-env` reaches the app\'s environment and no process\'s argv', async () => {
    const canary = `canary-${randomBytes(12).toString('hex')}`;
    const before = instanceOf('victim');
    const set = await forgeWithEnv({ T_CANARY: canary }, 'secrets', 'set', 'victim', '--from-env', 'FORGE_CANARY=T_CANARY');
    assert.equal(set.code, 0, `${set.stdout}\n${set.stderr}`);
    assert.doesNotMatch(`${set.stdout}${set.stderr}`, new RegExp(canary));
    // The new release runs with the value in its environment (the injection happened)…
    const appPid = await eventually('the victim restarted with the secret', 60_000, async () => {
      const id = instanceOf('victim');
      if (id === undefined || id === before) return undefined;
      const handle = agent!.supervisor.handles().find((h) => h.id === id);
      for (const pid of (await handle?.sandbox.pids()) ?? []) {
        try {
          if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('attacker.js') && readFileSync(`/proc/${pid}/environ`, 'utf8').includes(canary)) return pid;
        } catch { /* gone */ }
      }
      return undefined;
    });
    assert.ok(appPid);
    // …and no process on the host (crun, pasta, sh wrappers, the agent, caddy) has it in its argv.
    const inArgv = readdirSync('/proc').filter((n) => /^\d+$/.test(n)).filter((pid) => {
      try { return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(canary); } catch { return false; }
    });
    assert.deepEqual(inArgv, []);
  });

  test('filling the disk stops at the instance limit and the failure names it, like an OOM kill', async () => {
    const apply = await forge('apply', '-f', path.join(serviceDir('filler', {}, 'head -c 67108864 /dev/zero > fill.bin'), 'forge.yaml'), '--timeout', '2m');
    assert.notEqual(apply.code, 0);
    const output = `${apply.stdout}\n${apply.stderr}`;
    assert.match(output, new RegExp(`disk limit of ${DISK_MB} MB reached`), output);
    assert.match(output, /No space left on device/);
  });
});
