// Issue 13.21: a fork bomb held at pids.max leaves the app running and healthy,
// so nothing used to report it while pids.events' "max" climbed. The supervisor
// reads the counter while the instance runs and reports each rise.

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { createSupervisor, type Supervisor } from '../../agent/supervisor.ts';
import { createPortPool } from '../../agent/runner/ports.ts';
import { detectIsolation, sweepSandboxes } from '../../agent/sandbox/index.ts';
import { makeSpec } from '../helpers/spec.ts';

const ROOT = `forge-test-pids-${process.pid}`;
const isolation = process.getuid?.() === 0 ? await detectIsolation({ root: ROOT }) : null;
const skip = isolation === null ? 'needs root' : isolation.controllers.includes('pids') ? false : 'no pids controller on this host';
const scratch = mkdtempSync(path.join(tmpdir(), 'forge-pids-'));
let supervisor: Supervisor | undefined;

after(async () => {
  await supervisor?.stopAll(0);
  if (skip === false) await sweepSandboxes(ROOT);
  rmSync(scratch, { recursive: true, force: true });
});

describe('the process limit while running', { skip }, () => {
  test('a fork bomb held at pids.max is reported while the app stays healthy', async () => {
    const source = path.join(scratch, 'src');
    mkdirSync(source);
    // Serves /, and on /bomb starts 60 short sleeps in the background: bounded in count and time.
    writeFileSync(path.join(source, 'server.js'), `
const { spawn } = require('node:child_process');
require('node:http').createServer((req, res) => {
  if (req.url === '/bomb') spawn('/bin/sh', ['-c', 'i=0; while [ $i -lt 60 ]; do sleep 3 & i=$((i+1)); done; wait'], { stdio: 'ignore' });
  res.end('ok');
}).listen(Number(process.env.PORT));
`);
    const changes: number[] = [];
    supervisor = createSupervisor({
      dataDir: path.join(scratch, 'agent'), ports: createPortPool({ from: 23_300, to: 23_399 }), host: '127.0.0.1',
      mode: 'production', cgroupRoot: ROOT, pidsMax: 24, limitsPollMs: 100, startTimeoutMs: 20_000,
      onChange: () => changes.push(supervisor?.reports()[0]?.pidsLimitHits ?? 0), log: () => {},
    });
    const { image: _image, ...spec } = makeSpec({
      name: 'forker', sourceDir: source, build: { commands: ['true'] }, run: { command: 'node server.js' },
      resources: { memoryMb: 256, cpus: 0.5 }, health: { type: 'http', path: '/', intervalMs: 200, timeoutMs: 1_000, retries: 3 },
    });
    const started = await supervisor.run({ instanceId: 'forker', spec, hash: 'h', generation: 1, replica: 0 },
      { secrets: {}, onLine: () => {}, signal: new AbortController().signal });
    assert.equal(started.ok, true, JSON.stringify(started.result));
    assert.equal(supervisor.reports()[0]?.pidsLimitHits, undefined);
    const port = started.result?.instance?.port;
    assert.equal(await fetch(`http://127.0.0.1:${port}/bomb`).then((r) => r.text()), 'ok');
    for (let i = 0; i < 100 && (supervisor.reports()[0]?.pidsLimitHits ?? 0) === 0; i++) await new Promise((r) => setTimeout(r, 50));
    const report = supervisor.reports()[0];
    assert.ok((report?.pidsLimitHits ?? 0) > 0, JSON.stringify(report));
    assert.equal(report?.state, 'running');
    assert.ok(changes.some((n) => n > 0), 'the rise was announced (the daemon heartbeats on change)');
  });
});
