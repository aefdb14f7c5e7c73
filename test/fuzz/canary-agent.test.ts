// Secret canary through the agent path, on one whole Forge (test/e2e/stack.ts:
// control plane, embedded agent running node-hello in its sandbox, managed caddy).
// A secret env value set through the API must reach the app's environment (checked
// in /proc/<pid>/environ, so the test cannot pass by losing the value) and nothing
// else: not one byte of any file under the stack's dirs (SQLite database and WAL,
// agent task and build logs, instance dirs, caddy's config and log), not an API
// response (service, list, events, logs, deployments, apply plan), not /metrics, not
// caddy's live config. The encrypted column holds only ciphertext, so raw bytes of
// the database can be searched as they are.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';
import path from 'node:path';
import { request } from 'undici';
import { APP, eventually, startStack } from '../e2e/stack.ts';
import { processesUnder } from '../chaos/host-scan.ts';

const CANARY = 'forge-canary-agent-3c9e51a7';

/**
 * Whether a file holds `needle`, read in chunks: an instance's disk image (a sparse
 * 2 GiB ext4 file holding its release dir) is too large to read whole.
 */
function fileHolds(file: string, needle: string): boolean {
  const want = Buffer.from(needle);
  const chunk = Buffer.alloc(8 * 2 ** 20);
  const fd = openSync(file, 'r');
  try {
    let carry = Buffer.alloc(0);
    for (;;) {
      const read = readSync(fd, chunk, 0, chunk.length, null);
      if (read === 0) return false;
      const window = Buffer.concat([carry, chunk.subarray(0, read)]);
      if (window.includes(want)) return true;
      carry = window.subarray(Math.max(0, window.length - want.length + 1));
    }
  } finally {
    closeSync(fd);
  }
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const file = path.join(dir, entry);
    const stat = statSync(file, { throwIfNoEntry: false });
    if (!stat) return [];
    return stat.isDirectory() ? filesUnder(file) : stat.isFile() ? [file] : [];
  });
}

test('a secret set through the API reaches the app on the agent and appears in no file, response, metric or caddy config', { timeout: 180_000 }, async (t) => {
  const stack = await startStack();
  try {
    await stack.apply();
    await eventually('node-hello answering through caddy', 60_000, async () => (await stack.get().catch(() => '')) === '200 hello from node-hello v1');
    const captured: Array<{ what: string; text: string }> = [];
    const api = async (method: string, route: string, body?: unknown) => {
      const res = await request(`${stack.plane.url}${route}`, {
        method: method as 'GET', headers: { 'x-api-key': stack.apiKey, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await res.body.text();
      captured.push({ what: `${method} ${route} → ${res.statusCode}`, text });
      return { status: res.statusCode, text };
    };

    const generation = stack.plane.store.services.get(APP)!.generation;
    const patched = await api('PATCH', `/api/compute/services/${APP}`, { envVarsPatch: { set: { CANARY_TOKEN: CANARY } } });
    assert.equal(patched.status, 200, patched.text);
    // A new secret value is a new release: wait until it runs alone and healthy.
    await eventually('the release with the secret running', 60_000, async () => {
      const status = stack.plane.store.status.get(APP);
      const [observed] = await stack.plane.observe([APP]);
      const hash = stack.plane.store.services.get(APP)!.hash;
      return status?.phase === 'running' && status.observedGeneration > generation
        && observed?.instances.length === 1 && observed.instances[0]!.hash === hash && observed.instances[0]!.health === 'healthy';
    });

    // The positive control: the app's own environment holds the value.
    const apps = (await processesUnder(stack.dir, stack.cgroupRoot)).filter((p) => p.cmdline === 'node server.js');
    assert.equal(apps.length, 1, 'one app process');
    assert.ok(readFileSync(`/proc/${apps[0]!.pid}/environ`, 'utf8').split('\0').includes(`CANARY_TOKEN=${CANARY}`), 'the app got the secret');

    await api('GET', `/api/compute/services/${APP}`);
    await api('GET', '/api/compute/services');
    await api('GET', `/api/compute/services/${APP}/events?limit=1000`);
    await api('GET', `/api/compute/services/${APP}/logs`);
    await api('GET', '/api/v1/deployments');
    await api('GET', '/api/compute/config');
    await api('POST', '/api/v1/apply', { source: 'canary', dryRun: true, specs: [{ name: 'other', build: { commands: [] }, run: { command: 'node server.js' }, env: { A: 'b' } }] });
    await api('GET', '/metrics');
    const caddy = await request(`${stack.adminUrl}/config/`);
    captured.push({ what: 'caddy GET /config/', text: await caddy.body.text() });

    // Refused answers would hide a leak, not show its absence.
    assert.deepEqual(captured.filter((c) => c.what.includes('→') && !/→ 2\d\d$/.test(c.what)).map((c) => c.what), []);
    const leaks = captured.filter((c) => c.text.includes(CANARY)).map((c) => c.what);
    const files = filesUnder(stack.dir);
    for (const file of files) if (fileHolds(file, CANARY)) leaks.push(file);
    assert.deepEqual(leaks, []);
    assert.ok(files.some((f) => f.endsWith('forge.db')) && files.some((f) => f.endsWith('build.log')), 'the database and the agent logs were searched');
    t.diagnostic(`secret canary (agent path): in the app's environment; 0 hits in ${captured.length} API/metrics/caddy answers and ${files.length} files`);
  } finally {
    await stack.stop();
  }
});
