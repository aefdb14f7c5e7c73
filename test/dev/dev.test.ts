// `forge dev examples/node-hello` in a child process: the URL answers through
// caddy; a source edit changes the answer with no failed request in between; an
// invalid spec edit keeps the old version serving; SIGINT leaves nothing behind.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { findCaddy } from '../../router/managed-caddy.ts';
import { copyExample, devCgroupRoot, startDev, viaRoute } from './helpers.ts';
import { processesUnder } from '../chaos/host-scan.ts';

const skip = process.getuid?.() !== 0 ? 'needs root for the sandbox' : findCaddy() === null ? 'caddy is not installed (scripts/setup.sh installs it)' : false;

test('forge dev: serve, redeploy on save with no failed request, keep serving through a bad spec, stop clean', { skip, timeout: 180_000 }, async () => {
  const dir = copyExample('node-hello');
  const dev = await startDev(dir, 'node-hello');
  const host = 'node-hello.localhost';
  try {
    await dev.waitFor(/node-hello: running \(generation 1\) http:\/\/node-hello\.localhost:\d+/, 90_000);
    assert.deepEqual(await viaRoute(dev.httpPort, host), { status: 200, body: 'hello from node-hello v1\n' });
    // The scan below must see a sandboxed app (its cwd is /app inside its own root) or its empty result proves nothing.
    const running = await processesUnder(dir, devCgroupRoot(dir));
    assert.ok(running.some((p) => p.cmdline === 'node server.js'), `the app is found while it runs: ${JSON.stringify(running.map((p) => p.cmdline))}`);

    // Requests run back to back while the source changes; every one must succeed.
    const results: Array<{ status: number; body: string }> = [];
    let sawV2 = false;
    const load = (async () => {
      const deadline = Date.now() + 60_000;
      while (!sawV2 && Date.now() < deadline) {
        const r = await viaRoute(dev.httpPort, host);
        results.push(r);
        if (r.body.includes('v2')) sawV2 = true;
      }
    })();
    const server = join(dir, 'node-hello', 'server.js');
    writeFileSync(server, readFileSync(server, 'utf8').replace("const VERSION = 'v1'", "const VERSION = 'v2'"));
    await load;
    assert.ok(sawV2, `the new version never answered:\n${dev.output()}`);
    const failed = results.filter((r) => r.status !== 200);
    assert.deepEqual(failed, [], `${failed.length} of ${results.length} requests failed during the redeploy`);
    await dev.waitFor(/node-hello: running \(generation 2\)/, 30_000);

    // A typo in the spec: errors are printed, the running release stays.
    const spec = join(dir, 'node-hello', 'forge.yaml');
    writeFileSync(spec, `${readFileSync(spec, 'utf8')}\nhelth: {}\n`);
    await dev.waitFor(/the specs have errors; the last good release keeps serving:\n\s+\S*forge\.yaml:\d+:\d+ helth: unknown key/, 30_000);
    for (let i = 0; i < 10; i += 1) assert.deepEqual(await viaRoute(dev.httpPort, host), { status: 200, body: 'hello from node-hello v2\n' });

    assert.equal(await dev.stop(), 0);
    assert.match(dev.output(), /forge dev: stopped/);
    assert.deepEqual((await processesUnder(dir, devCgroupRoot(dir))).map((p) => `${p.pid} ${p.cmdline}`), []);
    assert.equal((await viaRoute(dev.httpPort, host)).status, 0, 'caddy is gone');
  } finally {
    await dev.stop(5_000);
    rmSync(dir, { recursive: true, force: true });
  }
});
