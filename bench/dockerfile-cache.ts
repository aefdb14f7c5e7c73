// Prints the time of a first Dockerfile build on an agent and of a second one after
// a one-line change (the cached layers before that line are reused; the RUN step
// after it runs again). Needs root, crun and buildah.
// Run: node --import tsx bench/dockerfile-cache.ts

import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createSupervisor } from '../agent/supervisor.ts';
import { createPortPool } from '../agent/runner/ports.ts';
import { sweepSandboxes } from '../agent/sandbox/index.ts';
import { makeSpec } from '../test/helpers/spec.ts';
import { writeDockerfileApp } from '../test/helpers/dockerfile-app.ts';

const ROOT = `forge-bench-dockerfile-${process.pid}`;
const scratch = mkdtempSync(path.join(tmpdir(), 'forge-bench-dockerfile-'));
chmodSync(scratch, 0o755);
const source = path.join(scratch, 'src');
writeDockerfileApp(source, 'v1\n');
// A bigger first layer, as a real dependency install would be.
writeFileSync(path.join(source, 'bin', 'blob'), Buffer.alloc(64 * 1024 * 1024, 7));
const supervisor = createSupervisor({
  dataDir: path.join(scratch, 'agent'), ports: createPortPool({ from: 24_400, to: 24_499 }), host: '127.0.0.1', mode: 'production',
  cgroupRoot: ROOT, startTimeoutMs: 30_000, onChange: () => {}, log: () => {},
});
const { image: _image, ...spec } = makeSpec({
  name: 'bench-df', sourceDir: source, build: { commands: [], dockerfile: 'Dockerfile' }, resources: { memoryMb: 128, cpus: 0.5 },
  health: { type: 'http', path: '/health', intervalMs: 500, timeoutMs: 1_000, retries: 3 },
});

async function build(id: string): Promise<number> {
  let ms = -1;
  const result = await supervisor.run({ instanceId: id, spec, hash: id, generation: 1, replica: 0 }, {
    secrets: {}, signal: new AbortController().signal,
    onLine: (line) => { const m = /image built in (\d+) ms/.exec(line); if (m) ms = Number(m[1]); },
  });
  if (!result.ok) throw new Error(JSON.stringify(result.result));
  await supervisor.stop({ instanceId: id, remove: true }, 0);
  return ms;
}

try {
  const first = await build('first');
  writeFileSync(path.join(source, 'www', 'index.html'), 'v2\n');
  const second = await build('second');
  console.log(`dockerfile cold build: ${first} ms`);
  console.log(`dockerfile rebuild after a one-line change, cached layers reused: ${second} ms`);
} finally {
  await supervisor.stopAll(0);
  await sweepSandboxes(ROOT);
  rmSync(scratch, { recursive: true, force: true });
}
