// Issue 13.16: an app's release used to run at <data dir>/instances/<id>/app, so
// Node read the package.json of every parent folder (Forge's own, "type":
// "module") and resolved packages from Forge's node_modules. In its own root the
// release is /app, with no parent that module resolution or config lookup reads.

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { createSupervisor, type Supervisor } from '../../agent/supervisor.ts';
import { createPortPool } from '../../agent/runner/ports.ts';
import { detectIsolation, isolationComplete, sweepSandboxes } from '../../agent/sandbox/index.ts';
import { makeSpec } from '../helpers/spec.ts';

const ROOT = `forge-test-approot-${process.pid}`;
const isolation = process.getuid?.() === 0 ? await detectIsolation({ root: ROOT }) : null;
const skip = isolation === null ? 'needs root' : isolationComplete(isolation) ? false : `isolation incomplete here: ${isolation.missing.join(', ')}`;

// A Forge checkout stand-in: package.json with "type": "module" and a package only Forge has.
const forgeRoot = mkdtempSync(path.join(tmpdir(), 'forge-approot-'));
const source = path.join(forgeRoot, 'app-src');
let supervisor: Supervisor | undefined;

after(async () => {
  await supervisor?.stopAll(0);
  if (skip === false) await sweepSandboxes(ROOT);
  rmSync(forgeRoot, { recursive: true, force: true });
});

describe('an app resolves nothing of Forge', { skip }, () => {
  test('a CommonJS app without package.json runs under a data dir whose parent says "type": "module", and cannot resolve Forge\'s packages', async () => {
    writeFileSync(path.join(forgeRoot, 'package.json'), JSON.stringify({ name: 'forge', type: 'module' }));
    mkdirSync(path.join(forgeRoot, 'node_modules', 'forge-only-pkg'), { recursive: true });
    writeFileSync(path.join(forgeRoot, 'node_modules', 'forge-only-pkg', 'index.js'), 'module.exports = 1;\n');
    mkdirSync(source);
    writeFileSync(path.join(source, 'server.js'), `
let resolved = 'not found';
try { resolved = require.resolve('forge-only-pkg'); } catch {}
require('node:http').createServer((req, res) => res.end(resolved)).listen(Number(process.env.PORT));
`);
    supervisor = createSupervisor({
      dataDir: path.join(forgeRoot, '.forge', 'agent'), ports: createPortPool({ from: 23_200, to: 23_299 }), host: '127.0.0.1',
      mode: 'production', cgroupRoot: ROOT, startTimeoutMs: 20_000, onChange: () => {}, log: () => {},
    });
    const { image: _image, ...spec } = makeSpec({
      name: 'cjs-app', sourceDir: source, build: { commands: ['true'] }, run: { command: 'node server.js' },
      resources: { memoryMb: 128, cpus: 0.5 }, health: { type: 'http', path: '/', intervalMs: 500, timeoutMs: 1_000, retries: 3 },
    });
    const result = await supervisor.run({ instanceId: 'cjs', spec, hash: 'h', generation: 1, replica: 0 },
      { secrets: {}, onLine: () => {}, signal: new AbortController().signal });
    assert.equal(result.ok, true, JSON.stringify(result.result));
    const body = await fetch(`http://127.0.0.1:${result.result?.instance?.port}/`).then((r) => r.text());
    assert.equal(body, 'not found');
  });
});
