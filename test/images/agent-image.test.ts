// Image services on one agent (the supervisor), against a real registry on loopback
// holding images this test builds: pull, pin, run under the sandbox, errors, GC.

import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, existsSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createSupervisor, type Supervisor } from '../../agent/supervisor.ts';
import { createPortPool } from '../../agent/runner/ports.ts';
import { detectIsolation, isolationComplete, sweepSandboxes } from '../../agent/sandbox/index.ts';
import { createImageStore } from '../../agent/image/store.ts';
import type { RunPayload } from '../../schemas/agent-protocol.ts';
import { makeSpec } from '../helpers/spec.ts';
import { buildBusyboxImage, startRegistry, type TestRegistry } from '../helpers/registry.ts';

const ROOT = `forge-test-images-${process.pid}`;
const isolation = process.getuid?.() === 0 ? await detectIsolation({ root: ROOT }) : null;
const skip = isolation === null ? 'needs root' : isolationComplete(isolation) ? false : `isolation incomplete here: ${isolation.missing.join(', ')}`;

const scratch = mkdtempSync(path.join(tmpdir(), 'forge-images-'));
const layout = path.join(scratch, 'build', 'layout');
const PASSWORD = 'pw-Zq81-never-shown';
let open: TestRegistry;
let locked: TestRegistry;
let v1 = '';
let v2 = '';
let supervisor: Supervisor;
const logs: string[] = [];

function payload(id: string, image: string, extra: Partial<RunPayload> = {}): RunPayload {
  const spec = makeSpec({
    name: `img-${id}`, image, resources: { memoryMb: 128, cpus: 0.5 }, env: { FROM_SPEC: 'yes' },
    health: { type: 'http', path: '/health', intervalMs: 500, timeoutMs: 1_000, retries: 3 },
  });
  return { instanceId: id, spec, hash: `h-${id}`, generation: 1, replica: 0, ...extra };
}

const io = (registry?: Record<string, { username: string; password: string }>) => ({
  secrets: {}, onLine: (l: string) => void logs.push(l), signal: new AbortController().signal, ...(registry ? { registry } : {}),
});

before(async () => {
  if (skip !== false) return;
  // Searchable like a usual data dir's parents (crun sets the root up as the namespace's unprivileged root).
  chmodSync(scratch, 0o755);
  open = await startRegistry(path.join(scratch, 'reg-open'));
  locked = await startRegistry(path.join(scratch, 'reg-locked'), { username: 'forge', password: PASSWORD });
  await buildBusyboxImage(layout, 'one', 'hello from v1\n');
  await buildBusyboxImage(layout, 'two', 'hello from v2\n');
  v1 = await open.push(layout, 'one', 'hello:v1');
  v2 = await open.push(layout, 'two', 'hello:v2');
  await locked.push(layout, 'one', 'private:v1');
  supervisor = createSupervisor({
    dataDir: path.join(scratch, 'agent'), ports: createPortPool({ from: 24_100, to: 24_199 }), host: '127.0.0.1', mode: 'production',
    cgroupRoot: ROOT, startTimeoutMs: 20_000, onChange: () => {}, log: (l) => void logs.push(l),
  });
});

after(async () => {
  await supervisor?.stopAll(0);
  await open?.stop();
  await locked?.stop();
  if (skip === false) await sweepSandboxes(ROOT);
  rmSync(scratch, { recursive: true, force: true });
});

describe('an image service on an agent', { skip }, () => {
  test('runs the image entrypoint as its user under the sandbox, serves $PORT, and reports the digest', async () => {
    const result = await supervisor.run(payload('a', `${open.host}/hello:v1`), io());
    assert.equal(result.ok, true, JSON.stringify(result.result));
    assert.equal(result.result?.imageDigest, v1);
    const port = result.result?.instance?.port;
    assert.equal(await fetch(`http://127.0.0.1:${port}/`).then((r) => r.text()), 'hello from v1\n');
    // Its root is the image's, owned by the service's unprivileged block, not host root.
    const rootfs = path.join(scratch, 'agent', 'instances', 'a', 'disk', 'app', 'rootfs');
    assert.ok(existsSync(path.join(rootfs, 'bin', 'busybox')));
    assert.ok(statSync(path.join(rootfs, 'bin', 'busybox')).uid >= 1_000_000_000);
    await supervisor.stop({ instanceId: 'a', remove: true }, 0);
  });

  test('a pinned digest runs those bytes even though the tag now names another image', async () => {
    const spec = { ...payload('pin', `${open.host}/hello:v2`).spec, revision: v1 };
    const result = await supervisor.run({ ...payload('pin', ''), spec }, io());
    assert.equal(result.ok, true, JSON.stringify(result.result));
    assert.equal(result.result?.imageDigest, v1);
    assert.equal(await fetch(`http://127.0.0.1:${result.result?.instance?.port}/`).then((r) => r.text()), 'hello from v1\n');
    await supervisor.stop({ instanceId: 'pin', remove: true }, 0);
  });

  test('a private registry: the right credentials pull, a wrong password fails cleanly without showing it', async () => {
    const good = await supervisor.run(payload('priv', `${locked.host}/private:v1`), io({ [locked.host]: { username: 'forge', password: PASSWORD } }));
    assert.equal(good.ok, true, JSON.stringify(good.result));
    await supervisor.stop({ instanceId: 'priv', remove: true }, 0);
    const bad = await supervisor.run(payload('priv-bad', `${locked.host}/private:v1`, { spec: { ...payload('x', '').spec, name: 'img-priv2', image: `${locked.host}/private:v1` } }),
      io({ [locked.host]: { username: 'forge', password: 'wrong-Pw-77' } }));
    assert.equal(bad.ok, false);
    assert.equal(bad.result?.code, 'E_REGISTRY_AUTH');
    assert.match(bad.result?.message ?? '', /private:v1/);
    const everything = JSON.stringify(bad) + logs.join('\n');
    assert.ok(!everything.includes('wrong-Pw-77') && !everything.includes(PASSWORD), 'no password in any output');
    // No credential file is left behind.
    const left = existsSync(path.join(scratch, 'agent', 'images', 'private'))
      ? (await import('node:fs')).readdirSync(path.join(scratch, 'agent', 'images', 'private')).filter((n) => n.startsWith('auth-')) : [];
    assert.deepEqual(left, []);
  });

  test('a wrong tag, a missing repository and a registry that is down each name the image and the cause', async () => {
    const tag = await supervisor.run(payload('e1', `${open.host}/hello:nope`), io());
    assert.equal(tag.result?.code, 'E_IMAGE_NOT_FOUND');
    assert.match(tag.result?.message ?? '', /hello:nope does not exist/);
    const repo = await supervisor.run(payload('e2', `${open.host}/nothing-here:v1`), io());
    assert.equal(repo.result?.code, 'E_IMAGE_NOT_FOUND');
    const down = await supervisor.run(payload('e3', '127.0.0.1:9/hello:v1'), io());
    assert.equal(down.result?.code, 'E_REGISTRY_UNAVAILABLE');
    assert.match(down.result?.message ?? '', /127\.0\.0\.1:9\/hello:v1/);
  });

  test('garbage collection keeps what runs and the rollback targets, and drops the rest', async () => {
    const store = createImageStore(path.join(scratch, 'agent'));
    assert.equal(await store.has(v1), true);
    const a = await supervisor.run(payload('gc', `${open.host}/hello:v2`, { retainImages: [] }), io());
    assert.equal(a.ok, true, JSON.stringify(a.result));
    await supervisor.collectImages();
    assert.equal(await store.has(v2), true, 'the running image stays');
    assert.equal(await store.has(v1), false, 'an image no kept release uses is removed');
    const b = await supervisor.run(payload('gc2', `${open.host}/hello:v1`, { retainImages: [v2] }), io());
    assert.equal(b.ok, true);
    await supervisor.stop({ instanceId: 'gc', remove: true }, 0);
    await supervisor.collectImages();
    assert.equal(await store.has(v2), true, 'a rollback target stays');
    assert.ok(await supervisor.imageBytes() > 1_000_000);
    await supervisor.stop({ instanceId: 'gc2', remove: true }, 0);
  });
});
