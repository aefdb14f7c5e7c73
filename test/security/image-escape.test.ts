// The isolation suite's key attacks from inside an OCI image (agent/image/): the
// image's root replaces the host's system dirs, and the boundary must be the same
// as for source services. Each protection is switched off once to show the same
// attack then succeeds.

import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createSupervisor, type Supervisor } from '../../agent/supervisor.ts';
import { createPortPool } from '../../agent/runner/ports.ts';
import { detectIsolation, isolationComplete, sweepSandboxes, type Weaken } from '../../agent/sandbox/index.ts';
import { makeSpec } from '../helpers/spec.ts';
import { buildBusyboxImage, startRegistry, type TestRegistry } from '../helpers/registry.ts';

const ROOT = `forge-test-imgsec-${process.pid}`;
const isolation = process.getuid?.() === 0 ? await detectIsolation({ root: ROOT }) : null;
const skip = isolation === null ? 'needs root' : isolationComplete(isolation) ? false : `isolation incomplete here: ${isolation.missing.join(', ')}`;

const scratch = mkdtempSync(path.join(tmpdir(), 'forge-imgsec-'));
const secretFile = path.join(scratch, 'plane', 'forge.key');
let registry: TestRegistry;
let loopback: Server;
const supervisors: Supervisor[] = [];

// Runs every attempt at start, writes one `name=result` per line where httpd serves it.
const ATTACK = `#!/bin/sh
b=/bin/busybox
try() { if "$@" >/dev/null 2>&1; then echo ok; else echo fail; fi; }
{
  echo "uid=$($b id -u)"
  echo "readSecret=$(try $b cat "$FORGE_T_SECRET_FILE")"
  echo "loopback=$(echo x | try $b nc -w 2 127.0.0.1 "$FORGE_T_LOOPBACK_PORT")"
  echo "cgroupWrite=$(try $b sh -c 'echo max > /sys/fs/cgroup/memory.max')"
  echo "cgroupMounted=$(try $b ls /sys/fs/cgroup)"
  echo "mount=$(try $b mount -t tmpfs none /tmp)"
  echo "hostProc=$(try $b test -e /proc/1/root/etc/shadow)"
} > /tmp/result
$b cp /www/health /tmp/health
exec $b httpd -f -p "$PORT" -h /tmp
`;

function supervisor(weaken?: Weaken): Supervisor {
  const s = createSupervisor({
    dataDir: path.join(scratch, `agent-${supervisors.length}`), ports: createPortPool({ from: 24_200, to: 24_299 }), host: '127.0.0.1',
    mode: 'production', cgroupRoot: ROOT, startTimeoutMs: 20_000, onChange: () => {}, log: () => {}, ...(weaken ? { weaken } : {}),
  });
  supervisors.push(s);
  return s;
}

async function attack(s: Supervisor, id: string): Promise<Record<string, string>> {
  const spec = makeSpec({
    name: `attacker-${id}`, image: `${registry.host}/attacker:v1`, resources: { memoryMb: 128, cpus: 0.5 },
    env: { FORGE_T_SECRET_FILE: secretFile, FORGE_T_LOOPBACK_PORT: String((loopback.address() as AddressInfo).port) },
    health: { type: 'http', path: '/health', intervalMs: 500, timeoutMs: 1_000, retries: 3 },
  });
  const result = await s.run({ instanceId: id, spec, hash: `h-${id}`, generation: 1, replica: 0 }, { secrets: {}, onLine: () => {}, signal: new AbortController().signal });
  assert.equal(result.ok, true, JSON.stringify(result.result));
  const body = await fetch(`http://127.0.0.1:${result.result?.instance?.port}/result`).then((r) => r.text());
  await s.stop({ instanceId: id, remove: true }, 0);
  return Object.fromEntries(body.trim().split('\n').map((l) => l.split('=') as [string, string]));
}

before(async () => {
  if (skip !== false) return;
  chmodSync(scratch, 0o755);
  mkdirSync(path.dirname(secretFile), { recursive: true });
  writeFileSync(secretFile, 'encryption-key-material\n', { mode: 0o600 });
  loopback = createServer((socket) => socket.end());
  await new Promise<void>((resolve) => loopback.listen(0, '127.0.0.1', resolve));
  registry = await startRegistry(path.join(scratch, 'reg'));
  const layout = path.join(scratch, 'layout');
  await buildBusyboxImage(layout, 'attacker', 'attacker\n', { 'attack.sh': ATTACK }, 'exec /bin/sh /attack.sh');
  await registry.push(layout, 'attacker', 'attacker:v1');
});

after(async () => {
  for (const s of supervisors) await s.stopAll(0);
  loopback?.close();
  await registry?.stop();
  if (skip === false) await sweepSandboxes(ROOT);
  rmSync(scratch, { recursive: true, force: true });
});

describe('an attacker image in a complete sandbox', { skip }, () => {
  test('cannot read the host data dir, reach loopback services, write cgroup files, mount or see host processes', async () => {
    const r = await attack(supervisor(), 'full');
    assert.equal(r.uid, '1000', 'the image user, inside its own namespace');
    assert.equal(r.readSecret, 'fail', 'the control plane data dir is not in its view');
    assert.equal(r.loopback, 'fail', "the host's loopback (Caddy admin, control plane, agent) is not its loopback");
    assert.equal(r.cgroupWrite, 'fail');
    assert.equal(r.cgroupMounted, 'fail', 'no cgroup files are mounted');
    assert.equal(r.mount, 'fail');
    assert.equal(r.hostProc, 'fail');
  });
});

describe('each protection matters for images too', { skip }, () => {
  test('network: in the host network namespace, loopback services answer', async () => {
    const r = await attack(supervisor({ network: true }), 'net');
    assert.equal(r.loopback, 'ok');
  });

  test('own root + identity: as host root with the data dir in view, the key is readable', async () => {
    const r = await attack(supervisor({ identity: true, exposeHostPaths: [path.dirname(secretFile)] }), 'root');
    assert.equal(r.readSecret, 'ok');
  });
});
