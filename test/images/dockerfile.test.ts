// A `build.dockerfile` service on an agent: buildah builds the folder (no network:
// FROM scratch, busybox copied in), the image runs like a pulled one, and a second
// build after a one-line change reuses the cached layers before that line.

import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createSupervisor, type Supervisor } from '../../agent/supervisor.ts';
import { createPortPool } from '../../agent/runner/ports.ts';
import { detectIsolation, isolationComplete, sweepSandboxes } from '../../agent/sandbox/index.ts';
import { makeSpec } from '../helpers/spec.ts';
import { writeDockerfileApp } from '../helpers/dockerfile-app.ts';

const ROOT = `forge-test-dockerfile-${process.pid}`;
const isolation = process.getuid?.() === 0 ? await detectIsolation({ root: ROOT }) : null;
const skip = isolation === null ? 'needs root' : isolationComplete(isolation) ? false : `isolation incomplete here: ${isolation.missing.join(', ')}`;

const scratch = mkdtempSync(path.join(tmpdir(), 'forge-dockerfile-'));
const source = path.join(scratch, 'src');
let supervisor: Supervisor;
const lines: string[] = [];

function payload(id: string) {
  const { image: _image, ...spec } = makeSpec({
    name: 'df-web', sourceDir: source, build: { commands: [], dockerfile: 'Dockerfile' }, resources: { memoryMb: 128, cpus: 0.5 },
    health: { type: 'http', path: '/health', intervalMs: 500, timeoutMs: 1_000, retries: 3 },
  });
  return { instanceId: id, spec, hash: `h-${id}`, generation: 1, replica: 0 };
}

const io = () => ({ secrets: {}, onLine: (l: string) => void lines.push(l), signal: new AbortController().signal });

before(() => {
  if (skip !== false) return;
  chmodSync(scratch, 0o755);
  writeDockerfileApp(source, 'built v1\n');
  supervisor = createSupervisor({
    dataDir: path.join(scratch, 'agent'), ports: createPortPool({ from: 24_300, to: 24_399 }), host: '127.0.0.1', mode: 'production',
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
    const first = await supervisor.run(payload('d1'), io());
    assert.equal(first.ok, true, JSON.stringify(first.result) + lines.slice(-20).join('\n'));
    assert.match(first.result?.imageDigest ?? '', /^sha256:/);
    assert.equal(await fetch(`http://127.0.0.1:${first.result?.instance?.port}/`).then((r) => r.text()), 'built v1\n');
    await supervisor.stop({ instanceId: 'd1', remove: true }, 0);

    writeFileSync(path.join(source, 'www', 'index.html'), 'built v2\n');
    lines.length = 0;
    const second = await supervisor.run(payload('d2'), io());
    assert.equal(second.ok, true, JSON.stringify(second.result));
    assert.ok(lines.some((l) => /Using cache/.test(l)), `the unchanged COPY bin step came from the cache:\n${lines.join('\n')}`);
    assert.notEqual(second.result?.imageDigest, first.result?.imageDigest);
    assert.equal(await fetch(`http://127.0.0.1:${second.result?.instance?.port}/`).then((r) => r.text()), 'built v2\n');
    await supervisor.stop({ instanceId: 'd2', remove: true }, 0);
  });
});
