// An agent whose reported address is not 127.0.0.1 (a worker host's own
// address): pasta forwards the app's $PORT on that address only, so the agent's
// start-up and periodic health checks must probe it there. They probed
// 127.0.0.1, where nothing is forwarded, and every sandboxed app on such a
// worker failed "port never accepted connections" (the multi-host fleet test
// ran its workers with isolation off because of it). 127.0.0.2 stands in for
// the worker's address: a loopback address the kernel answers without setup.

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { createSupervisor, type Supervisor } from '../../agent/supervisor.ts';
import { createPortPool } from '../../agent/runner/ports.ts';
import { detectIsolation, isolationComplete, sweepSandboxes } from '../../agent/sandbox/index.ts';
import { portAccepts } from '../../net/port-accepts.ts';
import { makeSpec } from '../helpers/spec.ts';

const ROOT = `forge-test-address-${process.pid}`;
const isolation = process.getuid?.() === 0 ? await detectIsolation({ root: ROOT }) : null;
const skip = isolation === null ? 'needs root' : isolationComplete(isolation) ? false : `isolation incomplete here: ${isolation.missing.join(', ')}`;
const scratch = mkdtempSync(path.join(tmpdir(), 'forge-address-'));
let supervisor: Supervisor | undefined;

after(async () => {
  await supervisor?.stopAll(0);
  if (skip === false) await sweepSandboxes(ROOT);
  rmSync(scratch, { recursive: true, force: true });
});

describe('agent on an address other than 127.0.0.1', { skip }, () => {
  test('a sandboxed app passes its start-up check and answers on the agent address only', async () => {
    const source = path.join(scratch, 'src');
    mkdirSync(source, { recursive: true });
    writeFileSync(path.join(source, 'app.js'), "require('http').createServer((q, s) => s.end('up')).listen(Number(process.env.PORT), '0.0.0.0');\n");
    supervisor = createSupervisor({
      dataDir: path.join(scratch, 'agent'), ports: createPortPool({ from: 23_500, to: 23_599 }), host: '127.0.0.2',
      mode: 'production', cgroupRoot: ROOT, startTimeoutMs: 15_000, onChange: () => {}, log: () => {},
    });
    const { image: _image, ...spec } = makeSpec({
      name: 'addr', sourceDir: source, build: { commands: ['true'] }, run: { command: 'node app.js' },
      resources: { memoryMb: 128, cpus: 0.5 }, health: { type: 'http', path: '/', intervalMs: 300, timeoutMs: 1_000, retries: 2 },
    });
    const result = await supervisor.run({ instanceId: 'addr', spec, hash: 'addr', generation: 1, replica: 0 },
      { secrets: {}, onLine: () => {}, signal: new AbortController().signal });
    assert.equal(result.ok, true, JSON.stringify(result.result));
    const instance = result.result?.instance;
    assert.equal(instance?.address, `127.0.0.2:${instance?.port}`);
    assert.equal(await fetch(`http://127.0.0.2:${instance?.port}/`).then((r) => r.text()), 'up');
    assert.equal(await portAccepts(instance!.port, '127.0.0.1'), false, 'nothing is forwarded on other addresses');
    // The periodic checks probe the same address: the instance stays healthy.
    await new Promise((r) => setTimeout(r, 1_500));
    assert.equal(supervisor.reports().find((i) => i.id === 'addr')?.health, 'healthy');
  });
});
