// The spec's `egress: false`: the running app keeps answering on $PORT through
// the proxy path, but its network namespace has loopback routes only, so an
// outbound connection fails locally (ENETUNREACH: no packet leaves). With egress
// on (the default) the namespace has a default route through pasta. Nothing here
// connects outward with egress on: the route table says enough.

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { createSupervisor, type Supervisor } from '../../agent/supervisor.ts';
import { createPortPool } from '../../agent/runner/ports.ts';
import { detectIsolation, isolationComplete, sweepSandboxes } from '../../agent/sandbox/index.ts';
import { normalizeSpec } from '../../specs/normalize.ts';
import { makeSpec } from '../helpers/spec.ts';

const ROOT = `forge-test-egress-${process.pid}`;
const isolation = process.getuid?.() === 0 ? await detectIsolation({ root: ROOT }) : null;
const skip = isolation === null ? 'needs root' : isolationComplete(isolation) ? false : `isolation incomplete here: ${isolation.missing.join(', ')}`;
const scratch = mkdtempSync(path.join(tmpdir(), 'forge-egress-'));
const source = path.join(scratch, 'src');
let supervisor: Supervisor | undefined;

after(async () => {
  await supervisor?.stopAll(0);
  if (skip === false) await sweepSandboxes(ROOT);
  rmSync(scratch, { recursive: true, force: true });
});

// Reports whether a default route exists and, only when there is none, what an outbound connect gets.
const APP = String.raw`
const fs = require('node:fs');
const net = require('node:net');
const routes = fs.readFileSync('/proc/net/route', 'utf8').split('\n').slice(1).filter(Boolean);
const hasDefault = routes.some((l) => l.split(/\s+/)[1] === '00000000');
const serve = (connect) => require('node:http').createServer((q, s) => s.end(JSON.stringify({ hasDefault, connect }))).listen(Number(process.env.PORT));
if (hasDefault) serve('not tried');
else { const c = net.connect(9, '192.0.2.1'); c.on('error', (e) => serve(e.code)); c.on('connect', () => { c.destroy(); serve('connected'); }); }
`;

describe('egress switch', { skip }, () => {
  test('normalize keeps egress only when it is false, so existing specs hash the same', () => {
    assert.equal(normalizeSpec({ name: 'a', image: 'x' }).egress, undefined);
    assert.equal(normalizeSpec({ name: 'a', image: 'x', egress: true }).egress, undefined);
    assert.equal(normalizeSpec({ name: 'a', image: 'x', egress: false }).egress, false);
  });

  test('egress: false leaves the app reachable on $PORT and unable to connect out; the default has a route out', async () => {
    mkdirSync(source, { recursive: true });
    writeFileSync(path.join(source, 'app.js'), APP);
    supervisor = createSupervisor({
      dataDir: path.join(scratch, 'agent'), ports: createPortPool({ from: 23_400, to: 23_499 }), host: '127.0.0.1',
      mode: 'production', cgroupRoot: ROOT, startTimeoutMs: 20_000, onChange: () => {}, log: () => {},
    });
    const run = async (id: string, egress: boolean) => {
      const { image: _image, ...spec } = makeSpec({
        name: id, sourceDir: source, build: { commands: ['true'] }, run: { command: 'node app.js' },
        resources: { memoryMb: 128, cpus: 0.5 }, health: { type: 'http', path: '/', intervalMs: 500, timeoutMs: 1_000, retries: 3 },
        ...(egress ? {} : { egress: false as const }),
      });
      const result = await supervisor!.run({ instanceId: id, spec, hash: id, generation: 1, replica: 0 },
        { secrets: {}, onLine: () => {}, signal: new AbortController().signal });
      assert.equal(result.ok, true, JSON.stringify(result.result));
      return JSON.parse(await fetch(`http://127.0.0.1:${result.result?.instance?.port}/`).then((r) => r.text())) as unknown;
    };
    assert.deepEqual(await run('closed', false), { hasDefault: false, connect: 'ENETUNREACH' });
    assert.deepEqual(await run('open', true), { hasDefault: true, connect: 'not tried' });
  });
});
