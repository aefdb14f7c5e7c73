// An app that writes until the disk is full fills its own size-limited
// filesystem, not the host's (which holds forge.db and the logs), and the exit
// says the disk limit was reached, as an OOM kill names the memory limit.

import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statfsSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { createSupervisor, type Supervisor } from '../../agent/supervisor.ts';
import { createPortPool } from '../../agent/runner/ports.ts';
import { detectIsolation, isolationComplete, sweepSandboxes } from '../../agent/sandbox/index.ts';
import { makeSpec } from '../helpers/spec.ts';

const ROOT = `forge-test-disk-${process.pid}`;
const isolation = process.getuid?.() === 0 ? await detectIsolation({ root: ROOT }) : null;
const skip = isolation === null ? 'needs root' : isolationComplete(isolation) ? false : `isolation incomplete here: ${isolation.missing.join(', ')}`;
const scratch = mkdtempSync(path.join(tmpdir(), 'forge-disk-'));
let supervisor: Supervisor | undefined;

after(async () => {
  await supervisor?.stopAll(0);
  if (skip === false) await sweepSandboxes(ROOT);
  rmSync(scratch, { recursive: true, force: true });
});

describe('disk limit', { skip }, () => {
  test('a build that writes past the limit fails with ENOSPC inside a 32 MB filesystem and says the disk limit was reached', async () => {
    const source = path.join(scratch, 'src');
    mkdirSync(source);
    writeFileSync(path.join(source, 'server.js'), "require('node:http').createServer((q, s) => s.end('ok')).listen(Number(process.env.PORT));\n");
    supervisor = createSupervisor({
      dataDir: path.join(scratch, 'agent'), ports: createPortPool({ from: 23_500, to: 23_599 }), host: '127.0.0.1',
      mode: 'production', cgroupRoot: ROOT, diskMb: 32, startTimeoutMs: 20_000, onChange: () => {}, log: () => {},
    });
    const hostFreeBefore = statfsSync(scratch).bavail * statfsSync(scratch).bsize;
    // At most 64 MB of zeros: twice the limit, a bounded amount even if the limit were missing.
    const { image: _image, ...spec } = makeSpec({
      name: 'filler', sourceDir: source, build: { commands: ['head -c 67108864 /dev/zero > fill.bin'] }, run: { command: 'node server.js' },
      resources: { memoryMb: 128, cpus: 0.5 }, health: { type: 'http', path: '/', intervalMs: 500, timeoutMs: 1_000, retries: 3 },
    });
    const result = await supervisor.run({ instanceId: 'filler', spec, hash: 'h', generation: 1, replica: 0 },
      { secrets: {}, onLine: () => {}, signal: new AbortController().signal });
    assert.equal(result.ok, false);
    assert.equal(result.result?.code, 'E_BUILD_FAILED');
    assert.match(result.result?.message ?? '', /^build step 1\/1 failed: exited with code 1 \(disk limit of 32 MB reached\); last output: .*No space left on device.*\(full log: forge logs filler --build\)$/);
    assert.ok(result.result?.lastLines?.some((l) => /No space left on device/.test(l)), JSON.stringify(result.result?.lastLines));
    // The 64 MB did not land on the host filesystem (a loose bound: other processes write too).
    const hostFreeAfter = statfsSync(scratch).bavail * statfsSync(scratch).bsize;
    assert.ok(hostFreeBefore - hostFreeAfter < 48 * 1024 * 1024, `host lost ${(hostFreeBefore - hostFreeAfter) >> 20} MB`);
    await supervisor.stop({ instanceId: 'filler', remove: true }, 0);
    assert.equal(existsSync(path.join(scratch, 'agent', 'instances', 'filler')), false, 'unmounted and removed');
  });

  test('with the disk limit switched off (test-only), the same build fills the host filesystem and succeeds', async () => {
    const weak = createSupervisor({
      dataDir: path.join(scratch, 'agent-nodisk'), ports: createPortPool({ from: 23_500, to: 23_599 }), host: '127.0.0.1',
      mode: 'production', cgroupRoot: ROOT, diskMb: 32, startTimeoutMs: 20_000, onChange: () => {}, log: () => {}, weaken: { disk: true },
    });
    const { image: _image, ...spec } = makeSpec({
      name: 'filler2', sourceDir: path.join(scratch, 'src'), build: { commands: ['head -c 67108864 /dev/zero > fill.bin'] }, run: { command: 'node server.js' },
      resources: { memoryMb: 128, cpus: 0.5 }, health: { type: 'http', path: '/', intervalMs: 500, timeoutMs: 1_000, retries: 3 },
    });
    try {
      const result = await weak.run({ instanceId: 'filler2', spec, hash: 'h', generation: 1, replica: 0 },
        { secrets: {}, onLine: () => {}, signal: new AbortController().signal });
      assert.equal(result.ok, true, JSON.stringify(result.result));
      assert.equal(statSync(path.join(scratch, 'agent-nodisk', 'instances', 'filler2', 'app', 'fill.bin')).size, 67_108_864);
    } finally {
      await weak.stopAll(0);
    }
  });
});
