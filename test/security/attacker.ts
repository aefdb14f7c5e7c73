// Attacker apps for test/security: deployed through the agent's supervisor (the
// path every run task takes), they try what an untrusted app would and report
// each attempt's outcome on GET /, as JSON.

import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { RunPayload } from '../../schemas/agent-protocol.ts';
import { makeSpec } from '../helpers/spec.ts';

/**
 * The attempts. Targets come in through env (FORGE_T_*): host paths and ports
 * the attacker is assumed to know. Each result is 'ok' or the error code.
 */
const ATTACKER_JS = String.raw`
const fs = require('node:fs');
const net = require('node:net');
const http = require('node:http');
const { execFileSync } = require('node:child_process');
const results = {};
const attempt = (name, fn) => { try { results[name] = fn() ?? 'ok'; } catch (e) { results[name] = e.code ?? e.message.split('\n')[0]; } };
attempt('readSecretFile', () => { fs.readFileSync(process.env.FORGE_T_SECRET_FILE, 'utf8'); });
attempt('readOtherService', () => { fs.readFileSync(process.env.FORGE_T_OTHER_FILE, 'utf8'); });
attempt('writeForgeFile', () => { fs.appendFileSync(process.env.FORGE_T_FORGE_FILE, '\n// owned\n'); });
attempt('hostProcessVisible', () => (fs.existsSync('/proc/' + process.env.FORGE_T_AGENT_PID) ? 'visible' : 'ENOENT'));
attempt('processCount', () => String(fs.readdirSync('/proc').filter((n) => /^\d+$/.test(n)).length));
attempt('cgroupWrite', () => { fs.writeFileSync('/sys/fs/cgroup/memory/memory.limit_in_bytes', '-1'); });
// Every path in a comma-separated list: 'ok' when any was readable, else the distinct error codes.
const each = (list, fn) => {
  const codes = new Set();
  for (const p of (list ?? '').split(',').filter(Boolean)) { try { fn(p); return 'ok'; } catch (e) { codes.add(e.code ?? e.message); } }
  return [...codes].sort().join(',') || 'none tried';
};
attempt('readDataFiles', () => each(process.env.FORGE_T_DATA_FILES, (p) => fs.readFileSync(p)));
attempt('readOtherEnviron', () => { fs.readFileSync('/proc/' + process.env.FORGE_T_OTHER_PID + '/environ'); });
// Raise its own memory limit through the cgroup /proc/self/cgroup names (v1 memory line or the v2 line);
// the host may itself run in a cgroup namespace, so the longest suffix of the path that exists is taken.
attempt('raiseOwnLimit', () => {
  const lines = fs.readFileSync('/proc/self/cgroup', 'utf8').split('\n');
  const v1 = lines.find((l) => /^\d+:([^:]*,)?memory(,[^:]*)?:/.test(l));
  const [base, own, file, value] = v1
    ? ['/sys/fs/cgroup/memory', v1.split(':')[2], 'memory.limit_in_bytes', '-1']
    : ['/sys/fs/cgroup', lines.find((l) => l.startsWith('0::')).slice(3), 'memory.max', 'max'];
  const parts = own.split('/').filter(Boolean);
  const dirs = parts.map((_, i) => base + '/' + parts.slice(i).join('/'));
  const dir = dirs.find((d) => fs.existsSync(d + '/' + file)) ?? base;
  // v1 refuses a memory limit above memory+swap's: that one goes first.
  if (v1 && fs.existsSync(dir + '/memory.memsw.limit_in_bytes')) fs.writeFileSync(dir + '/memory.memsw.limit_in_bytes', value);
  fs.writeFileSync(dir + '/' + file, value);
});
attempt('raiseNeighbourLimit', () => each(process.env.FORGE_T_NEIGHBOUR_CGROUP_FILES, (p) => fs.writeFileSync(p, '-1')));
attempt('uid', () => String(process.getuid()));
attempt('nestedUserns', () => { execFileSync('unshare', ['-Ur', 'true'], { stdio: 'ignore' }); });
attempt('mount', () => { execFileSync('mount', ['-t', 'tmpfs', 'none', '/tmp'], { stdio: 'ignore' }); });
attempt('umountProc', () => { execFileSync('umount', ['/proc'], { stdio: 'ignore' }); });
// finit_module(-1, "", 0) through libc's syscall(): 313 on x86_64, 273 on arm64.
attempt('loadModule', () => execFileSync('python3', ['-c', 'import ctypes, os, platform; n = 313 if platform.machine() == "x86_64" else 273; r = ctypes.CDLL(None, use_errno=True).syscall(n, -1, b"", 0); print("ok" if r == 0 else os.strerror(ctypes.get_errno()))'], { encoding: 'utf8' }).trim());
function connect(port) {
  return new Promise((resolve) => {
    if (!port) return resolve('none tried');
    const s = net.connect({ host: '127.0.0.1', port: Number(port) });
    s.setTimeout(1000, () => { s.destroy(); resolve('ETIMEDOUT'); });
    s.on('connect', () => { s.destroy(); resolve('ok'); });
    s.on('error', (e) => resolve(e.code));
  });
}
(async () => {
  results.loopback = await connect(process.env.FORGE_T_LOOPBACK_PORT);
  const ports = (process.env.FORGE_T_LOOPBACK_PORTS ?? '').split(',').filter(Boolean);
  results.loopbackPorts = (await Promise.all(ports.map(connect))).join(',');
  results.adminSocket = await new Promise((resolve) => {
    if (!process.env.FORGE_T_ADMIN_SOCKET) return resolve('none tried');
    const s = net.connect({ path: process.env.FORGE_T_ADMIN_SOCKET });
    s.on('connect', () => { s.destroy(); resolve('ok'); });
    s.on('error', (e) => resolve(e.code));
  });
  http.createServer((req, res) => res.end(JSON.stringify(results))).listen(Number(process.env.PORT));
})();
`;

export function writeAttacker(dir: string): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'attacker.js'), ATTACKER_JS);
  writeFileSync(path.join(dir, 'data.txt'), 'service data\n');
}

export function attackerPayload(
  id: string,
  service: string,
  sourceDir: string,
  env: Record<string, string>,
  command = 'node attacker.js',
  build = 'kill -9 -1; true',
): RunPayload {
  const { image: _image, ...spec } = makeSpec({
    // The build signals every process it can see: only its own sandbox may be hit.
    name: service, sourceDir, build: { commands: [build] }, run: { command }, resources: { memoryMb: 128, cpus: 0.5 },
    env, health: { type: 'http', path: '/', intervalMs: 500, timeoutMs: 1_000, retries: 3 },
  });
  return { instanceId: id, spec, hash: `h-${id}`, generation: 1, replica: 0 };
}
