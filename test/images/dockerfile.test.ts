// A `build.dockerfile` service on an agent: buildah builds the folder (no network:
// FROM scratch, busybox copied in), a RUN step writes into a directory COPY made
// (as `RUN npm ci` does), the image runs like a pulled one, and a second build
// after a one-line change reuses the cached layers before that line.

import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createSupervisor, type Supervisor } from '../../agent/supervisor.ts';
import { createPortPool } from '../../agent/runner/ports.ts';
import { detectIsolation, isolationComplete, sweepSandboxes } from '../../agent/sandbox/index.ts';
import { IDENTITY_BLOCK, identityForSlot } from '../../agent/sandbox/identity.ts';
import { makeSpec } from '../helpers/spec.ts';
import { writeDockerfileApp } from '../helpers/dockerfile-app.ts';
import { buildStoreDir, buildStoresBytes, buildTag, storageFlags } from '../../agent/image/build-stores.ts';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const ROOT = `forge-test-dockerfile-${process.pid}`;
const isolation = process.getuid?.() === 0 ? await detectIsolation({ root: ROOT }) : null;
const skip = isolation === null ? 'needs root' : isolationComplete(isolation) ? false : `isolation incomplete here: ${isolation.missing.join(', ')}`;

const scratch = mkdtempSync(path.join(tmpdir(), 'forge-dockerfile-'));
const source = path.join(scratch, 'src');
const dataDir = path.join(scratch, 'agent');
let supervisor: Supervisor;
const lines: string[] = [];

function payload(id: string, name = 'df-web', sourceDir = source) {
  const { image: _image, ...spec } = makeSpec({
    name, sourceDir, build: { commands: [], dockerfile: 'Dockerfile' }, resources: { memoryMb: 128, cpus: 0.5 },
    health: { type: 'http', path: '/health', intervalMs: 500, timeoutMs: 1_000, retries: 3 },
  });
  return { instanceId: id, spec, hash: `h-${id}`, generation: 1, replica: 0 };
}

/** Host owners of every copy of the RUN step's marker in the agent's build stores (vfs: one plain directory per layer). */
function markerOwnersOnHost(dir = path.join(dataDir, 'images'), depth = 0): number[] {
  if (depth > 8) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    if (!entry.isDirectory()) return [];
    const at = path.join(dir, entry.name);
    const marker = entry.name === 'www' ? statSync(path.join(at, 'data', 'marker'), { throwIfNoEntry: false }) : undefined;
    return marker !== undefined ? [marker.uid] : markerOwnersOnHost(at, depth + 1);
  });
}

/** The host uid block (first id) the agent gave a service. */
function blockOf(service: string): number {
  const slot = (JSON.parse(readFileSync(path.join(dataDir, 'identities.json'), 'utf8')) as { services: Record<string, number> }).services[service];
  assert.equal(typeof slot, 'number', `${service} has an identity`);
  return identityForSlot(slot!).hostBase;
}

/** The identity slot (and so the build store) the agent gave a service. */
function slotOf(service: string): number {
  return (JSON.parse(readFileSync(path.join(dataDir, 'identities.json'), 'utf8')) as { services: Record<string, number> }).services[service]!;
}

/** The tags of the images in one build store. */
async function buildTags(store: string): Promise<string[]> {
  const { stdout } = await promisify(execFile)('buildah', [...storageFlags(store), 'images', '--json']);
  return (JSON.parse(stdout.trim() || '[]') as Array<{ names?: string[] | null }>).flatMap((i) => i.names ?? []).sort();
}

const inBlock = (uid: number, base: number) => uid >= base && uid < base + IDENTITY_BLOCK;

const io = () => ({ secrets: {}, onLine: (l: string) => void lines.push(l), signal: new AbortController().signal });

before(() => {
  if (skip !== false) return;
  chmodSync(scratch, 0o755);
  writeDockerfileApp(source, 'built v1\n');
  supervisor = createSupervisor({
    dataDir, ports: createPortPool({ from: 24_300, to: 24_399 }), host: '127.0.0.1', mode: 'production',
    cgroupRoot: ROOT, startTimeoutMs: 20_000, onChange: () => {}, log: (l) => void lines.push(l),
  });
});

after(async () => {
  await supervisor?.stopAll(0);
  if (skip === false) await sweepSandboxes(ROOT);
  rmSync(scratch, { recursive: true, force: true });
});

describe('a Dockerfile service on an agent', { skip }, () => {
  test('builds with buildah, serves, and a rebuild after a one-line change reuses the cached layers', async () => {
    // The store all services shared before (its layers belong to whichever block built them) is dropped, not reused.
    const legacy = path.join(dataDir, 'images', 'buildah');
    mkdirSync(path.join(legacy, 'vfs'), { recursive: true });
    const first = await supervisor.run(payload('d1'), io());
    assert.equal(first.ok, true, JSON.stringify(first.result) + lines.slice(-20).join('\n'));
    assert.match(first.result?.imageDigest ?? '', /^sha256:/);
    assert.equal(existsSync(legacy), false, 'the old shared build store is gone');
    assert.equal(await fetch(`http://127.0.0.1:${first.result?.instance?.port}/`).then((r) => r.text()), 'built v1\n');
    assert.equal(await fetch(`http://127.0.0.1:${first.result?.instance?.port}/data/marker`).then((r) => r.text()), 'built\n', 'the RUN step wrote into the COPYed /www');
    // The RUN step ran as the service's block root, never host root: what it wrote is owned, on the host, by an id of the block.
    const web = blockOf('df-web');
    const owners = markerOwnersOnHost();
    assert.ok(owners.length > 0, 'the RUN layer is in the build store');
    for (const uid of owners) assert.ok(inBlock(uid, web), `marker owned by host uid ${uid}, outside df-web's block ${web}+${IDENTITY_BLOCK}`);
    await supervisor.stop({ instanceId: 'd1', remove: true }, 0);

    writeFileSync(path.join(source, 'www', 'index.html'), 'built v2\n');
    lines.length = 0;
    const second = await supervisor.run(payload('d2'), io());
    assert.equal(second.ok, true, JSON.stringify(second.result));
    assert.ok(lines.some((l) => /Using cache/.test(l)), `the unchanged COPY bin step came from the cache:\n${lines.join('\n')}`);
    assert.notEqual(second.result?.imageDigest, first.result?.imageDigest);
    assert.equal(await fetch(`http://127.0.0.1:${second.result?.instance?.port}/`).then((r) => r.text()), 'built v2\n');
    assert.equal(await fetch(`http://127.0.0.1:${second.result?.instance?.port}/data/marker`).then((r) => r.text()), 'built\n');
    await supervisor.stop({ instanceId: 'd2', remove: true }, 0);
  });

  test('a second service on the same agent whose Dockerfile shares steps with the first builds, runs its RUN step, and serves', async () => {
    // Same Dockerfile and busybox, another page: the steps before COPY www are the ones df-web already built.
    const other = path.join(scratch, 'src-api');
    writeDockerfileApp(other, 'api v1\n');
    lines.length = 0;
    const api = await supervisor.run(payload('a1', 'df-api', other), io());
    assert.equal(api.ok, true, JSON.stringify(api.result) + lines.slice(-20).join('\n'));
    assert.equal(await fetch(`http://127.0.0.1:${api.result?.instance?.port}/`).then((r) => r.text()), 'api v1\n');
    assert.equal(await fetch(`http://127.0.0.1:${api.result?.instance?.port}/data/marker`).then((r) => r.text()), 'built\n');
    const [web, apiBlock] = [blockOf('df-web'), blockOf('df-api')];
    assert.notEqual(web, apiBlock);
    const owners = markerOwnersOnHost();
    assert.ok(owners.some((uid) => inBlock(uid, apiBlock)), `df-api's RUN step wrote as its own block root: ${owners.join(', ')}`);
    for (const uid of owners) assert.ok(inBlock(uid, web) || inBlock(uid, apiBlock), `marker owned by host uid ${uid}, outside both services' blocks`);
    await supervisor.stop({ instanceId: 'a1', remove: true }, 0);
  });

  test('build stores are pruned by the GC rule: the current and rollback-target builds stay, the rest and stores of services gone from the agent go; their size is in IMAGES', async () => {
    const build = async (id: string, revision: string, page: string, retainImages: string[] = []) => {
      writeFileSync(path.join(source, 'www', 'index.html'), page);
      const result = await supervisor.run({ ...payload(id), spec: { ...payload(id).spec, revision }, retainImages }, io());
      assert.equal(result.ok, true, JSON.stringify(result.result) + lines.slice(-20).join('\n'));
    };
    const apiStore = buildStoreDir(dataDir, slotOf('df-api'));
    assert.ok(existsSync(apiStore), 'df-api built here earlier (its instance is gone now)');
    await build('g1', 'rev-a', 'gc a\n');
    await build('g2', 'rev-b', 'gc b\n', ['rev-a']);
    await build('g3', 'rev-c', 'gc c\n', ['rev-a']);
    await supervisor.stop({ instanceId: 'g1', remove: true }, 0);
    await supervisor.stop({ instanceId: 'g2', remove: true }, 0);
    const webStore = buildStoreDir(dataDir, slotOf('df-web'));
    const before = await buildStoresBytes(dataDir);

    await supervisor.collectImages();
    assert.deepEqual(await buildTags(webStore), [buildTag('df-web', 'rev-a'), buildTag('df-web', 'rev-c')].sort(),
      'the running release\'s build and its rollback target\'s stay; rev-b\'s and the earlier builds\' go');
    assert.equal(existsSync(apiStore), false, 'the store of a service with no instance here is removed');
    const after = await buildStoresBytes(dataDir);
    assert.ok(after < before, `the stores shrank: ${before} → ${after} bytes`);
    // IMAGES counts the build stores beside the image cache's blobs.
    const blobs = readdirSync(path.join(dataDir, 'images', 'oci', 'blobs', 'sha256')).reduce((n, f) => n + statSync(path.join(dataDir, 'images', 'oci', 'blobs', 'sha256', f)).size, 0);
    assert.equal(await supervisor.imageBytes(), blobs + after);

    // The kept intermediate layers still serve a rebuild from the cache.
    lines.length = 0;
    await build('g4', 'rev-d', 'gc d\n', ['rev-c']);
    assert.ok(lines.some((l) => /Using cache/.test(l)), `the unchanged steps came from the cache:\n${lines.join('\n')}`);
    await supervisor.stop({ instanceId: 'g3', remove: true }, 0);
    await supervisor.stop({ instanceId: 'g4', remove: true }, 0);
  });
});
