// Attacker apps deployed through the agent's supervisor try to leave their
// sandbox; every attempt must fail. Each protection is also switched off once
// (SupervisorOptions.weaken, test-only) to show the same attack then succeeds:
// the assertion is held up by that protection, not by chance.

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createSupervisor, type Supervisor } from '../../agent/supervisor.ts';
import { createPortPool } from '../../agent/runner/ports.ts';
import { detectIsolation, isolationComplete, sweepSandboxes, type Weaken } from '../../agent/sandbox/index.ts';
import { attackerPayload, writeAttacker } from './attacker.ts';

const ROOT = `forge-test-security-${process.pid}`;
const isolation = process.getuid?.() === 0 ? await detectIsolation({ root: ROOT }) : null;
const skip = isolation === null ? 'needs root' : isolationComplete(isolation) ? false : `isolation incomplete here: ${isolation.missing.join(', ')}`;

const scratch = mkdtempSync(path.join(tmpdir(), 'forge-security-'));
const dataDir = path.join(scratch, 'agent');
const secretFile = path.join(scratch, 'plane', 'forge.key');
const forgeFile = path.join(scratch, 'repo', 'bin', 'forge');
const source = path.join(scratch, 'src');
const supervisors: Supervisor[] = [];
let loopback: Server;
let victim: ChildProcess;

// One supervisor per data dir, as one agent per data dir (a supervisor sweeps its dir's leftovers).
function supervisor(weaken?: Weaken, dir = path.join(scratch, `agent-${supervisors.length}`)): Supervisor {
  const s = createSupervisor({
    dataDir: dir, ports: createPortPool({ from: 23_000, to: 23_099 }), host: '127.0.0.1', mode: 'production', cgroupRoot: ROOT,
    startTimeoutMs: 20_000, onChange: () => {}, log: () => {}, ...(weaken ? { weaken } : {}),
  });
  supervisors.push(s);
  return s;
}

const io = () => ({ secrets: {}, onLine: () => {}, signal: new AbortController().signal });

let otherServiceFile = '';
function targets(): Record<string, string> {
  return {
    FORGE_T_SECRET_FILE: secretFile,
    FORGE_T_OTHER_FILE: otherServiceFile,
    FORGE_T_FORGE_FILE: forgeFile,
    FORGE_T_AGENT_PID: String(process.pid),
    FORGE_T_LOOPBACK_PORT: String((loopback.address() as AddressInfo).port),
  };
}

async function attack(s: Supervisor, id: string, build?: string): Promise<Record<string, string>> {
  const result = await s.run(attackerPayload(id, `attacker-${id}`, source, targets(), 'node attacker.js', build), io());
  assert.equal(result.ok, true, JSON.stringify(result.result));
  const port = result.result?.instance?.port;
  const body = await fetch(`http://127.0.0.1:${port}/`).then((r) => r.text());
  await s.stop({ instanceId: id, remove: true }, 0);
  return JSON.parse(body) as Record<string, string>;
}

before(async () => {
  if (skip !== false) return;
  // Searchable like a usual data dir's parents, so the switched-off runs can bind paths below it.
  chmodSync(scratch, 0o755);
  mkdirSync(path.dirname(secretFile), { recursive: true });
  writeFileSync(secretFile, 'encryption-key-material\n', { mode: 0o600 });
  mkdirSync(path.dirname(forgeFile), { recursive: true });
  writeFileSync(forgeFile, '#!/bin/sh\necho forge\n', { mode: 0o755 });
  writeAttacker(source);
  // Stand-in for Caddy's admin API, the control plane and the agent's ports: a loopback listener.
  loopback = createServer((socket) => socket.end());
  await new Promise<void>((resolve) => loopback.listen(0, '127.0.0.1', resolve));
  // A host process the attacker's `kill -9 -1` must not reach.
  victim = spawn('sleep', ['300'], { stdio: 'ignore' });
  // Another service, whose release holds data.txt.
  const s = supervisor(undefined, dataDir);
  const deployed = await s.run(attackerPayload('victim', 'victim', source, { ...targets(), FORGE_T_OTHER_FILE: '/nonexistent' }), io());
  assert.equal(deployed.ok, true, JSON.stringify(deployed.result));
  otherServiceFile = path.join(dataDir, 'instances', 'victim', 'disk', 'app', 'data.txt');
});

after(async () => {
  for (const s of supervisors) await s.stopAll(0);
  victim?.kill('SIGKILL');
  loopback?.close();
  if (skip === false) await sweepSandboxes(ROOT);
  rmSync(scratch, { recursive: true, force: true });
});

describe('an attacker app in a complete sandbox', { skip }, () => {
  test('sees none of the host, reaches nothing on loopback, and cannot mount, unshare or kill outside', async () => {
    const r = await attack(supervisor(), 'full');
    assert.equal(r.readSecretFile, 'ENOENT', 'the control plane data dir is not in its view');
    assert.equal(r.readOtherService, 'ENOENT', "another service's release is not in its view");
    assert.equal(r.writeForgeFile, 'ENOENT', "Forge's own files are not in its view");
    assert.equal(r.hostProcessVisible, 'ENOENT', 'the agent process is not in its /proc');
    assert.ok(Number(r.processCount) <= 5, `sees ${r.processCount} processes`);
    assert.equal(r.cgroupWrite, 'ENOENT', 'no cgroup files are mounted');
    assert.equal(r.uid, '1000');
    assert.notEqual(r.nestedUserns, 'ok', 'no nested user namespace (seccomp)');
    assert.notEqual(r.mount, 'ok');
    assert.notEqual(r.umountProc, 'ok', 'the own /proc cannot be unmounted to find the host one');
    assert.equal(r.loadModule, 'Operation not permitted', 'no kernel module loading');
    assert.equal(r.loopback, 'ECONNREFUSED', "the host's loopback is not its loopback");
    assert.equal(victim.exitCode, null, 'kill -9 -1 did not reach a host process');
    assert.equal(victim.signalCode, null);
    assert.equal(statSync(forgeFile).size, '#!/bin/sh\necho forge\n'.length);
  });

  test('the app runs as its own unprivileged host uid, distinct per service, and owns its release', async () => {
    const dir = path.join(scratch, 'agent-uids');
    const s = supervisor(undefined, dir);
    const a = await s.run(attackerPayload('uid-a', 'svc-a', source, targets()), io());
    const b = await s.run(attackerPayload('uid-b', 'svc-b', source, targets()), io());
    const hostUid = (id: string) => statSync(path.join(dir, 'instances', id, 'disk', 'app', 'attacker.js')).uid;
    assert.ok(hostUid('uid-a') >= 1_000_000_000, `release owned by ${hostUid('uid-a')}`);
    assert.ok(hostUid('uid-b') >= 1_000_000_000);
    assert.notEqual(hostUid('uid-a'), hostUid('uid-b'));
    assert.equal(a.ok && b.ok, true);
    await s.stop({ instanceId: 'uid-a', remove: true }, 0);
    await s.stop({ instanceId: 'uid-b', remove: true }, 0);
  });
});

describe('each protection matters: the same attacker with it switched off', { skip }, () => {
  test('own root: with the host paths in view, another service\'s files are readable', async () => {
    // The victim's release is a filesystem of its own (its disk limit): bound by its own path.
    const r = await attack(supervisor({ exposeHostPaths: [path.dirname(otherServiceFile), path.dirname(secretFile)] }, path.join(scratch, 'agent-exposed')), 'exposed');
    assert.equal(r.readOtherService, 'ok');
    // The unprivileged identity still holds the root-only key back.
    assert.equal(r.readSecretFile, 'EACCES');
  });

  test('identity: as host root with the paths in view, the key is readable', async () => {
    const r = await attack(supervisor({ identity: true, exposeHostPaths: [path.dirname(secretFile)] }, path.join(scratch, 'agent-root')), 'asroot');
    assert.equal(r.readSecretFile, 'ok');
    assert.equal(r.uid, '0');
  });

  test('network namespace: on the host network, loopback services answer', async () => {
    const r = await attack(supervisor({ network: true }, path.join(scratch, 'agent-hostnet')), 'hostnet');
    assert.equal(r.loopback, 'ok');
  });

  test('PID namespace: with the host\'s /proc, the agent and every host process are listed', async () => {
    // (Its build does not `kill -9 -1`: without a PID namespace that reaches every process of the service's uid, the build's own shell too.)
    const r = await attack(supervisor({ pidNamespace: true }, path.join(scratch, 'agent-hostpid')), 'hostpid', 'true');
    assert.equal(r.hostProcessVisible, 'visible');
    assert.ok(Number(r.processCount) > 5, `sees ${r.processCount} processes`);
  });

  test('cgroup confinement: with the host\'s cgroup files in view and no cgroup namespace, root raises its own memory limit', async () => {
    // The unprivileged identity alone still holds the files (owned by host root) back…
    const unprivileged = await attack(supervisor({ cgroupFiles: true }, path.join(scratch, 'agent-cgfiles')), 'cgfiles');
    assert.match(unprivileged.raiseOwnLimit!, /^(EACCES|EPERM|EROFS)$/, unprivileged.cgroupView);
    // …as host root nothing does.
    const r = await attack(supervisor({ cgroupFiles: true, identity: true }, path.join(scratch, 'agent-cgroot')), 'cgroot');
    assert.equal(r.raiseOwnLimit, 'ok');
  });

  test('seccomp: without the filter, a nested user namespace can be made', async () => {
    const r = await attack(supervisor({ seccomp: true }, path.join(scratch, 'agent-noseccomp')), 'noseccomp');
    assert.equal(r.nestedUserns, 'ok');
  });
});
