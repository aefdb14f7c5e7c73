// Chaos: the managed caddy is SIGKILLed under traffic. Forge's supervisor starts
// it again from the base config, which holds no routes; the route table must be
// back within one resync interval of caddy answering again, and traffic resumes:
// every request after that answers 200 from the app. Requests sent while caddy
// was down fail (nothing listens), and the test reports how many.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { APP, eventually, startStack } from '../e2e/stack.ts';

const needsRoot = process.getuid?.() === 0 ? false : 'needs root for cgroups and namespaces';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('caddy SIGKILLed under traffic comes back empty; the routes are back within one resync and traffic resumes', { skip: needsRoot, timeout: 180_000 }, async (t) => {
  const stack = await startStack({ resyncIntervalMs: 1_000 });
  let loading = false;
  let load: Promise<void> = Promise.resolve();
  try {
    await stack.apply();
    const hello = '200 hello from node-hello v1';
    await eventually('the app answering through caddy', 60_000, async () => (await stack.get().catch(() => '')) === hello);
    const caddy = stack.routing.caddy;
    assert.ok(caddy?.pid, 'a managed caddy runs');

    // One request at a time, each on a new connection, for as long as the test runs.
    const results: { at: number; ok: boolean }[] = [];
    loading = true;
    load = (async () => {
      while (loading) {
        const text = await stack.get().catch(() => 'failed');
        results.push({ at: Date.now(), ok: text === hello });
        await sleep(10);
      }
    })();
    await sleep(500);

    const oldPid = caddy.pid;
    const killedAt = Date.now();
    process.kill(oldPid, 'SIGKILL');
    const upAt = await eventually('caddy answering on its admin API again', 30_000, async () => {
      if (caddy.pid === undefined || caddy.pid === oldPid) return false;
      const res = await request(`${stack.adminUrl}/config/`, { headers: { connection: 'close' } });
      await res.body.text();
      return res.statusCode === 200 ? Date.now() : false;
    });
    const backAt = await eventually('the route back', 10_000, () => results.find((r) => r.at > upAt && r.ok)?.at);
    await sleep(1_500);
    loading = false;
    await load;

    const after = results.filter((r) => r.at > backAt);
    const failedDuring = results.filter((r) => r.at > killedAt && r.at <= backAt && !r.ok).length;
    assert.ok(backAt - upAt <= stack.resyncIntervalMs, `route back ${backAt - upAt} ms after caddy answered (resync every ${stack.resyncIntervalMs} ms)`);
    assert.ok(after.length >= 20, `only ${after.length} requests after the route came back`);
    assert.deepEqual(after.filter((r) => !r.ok), [], 'every request after the route came back answered 200 from the app');
    assert.equal(stack.plane.store.status.get(APP)?.phase, 'running');
    t.diagnostic(`chaos caddy: SIGKILL under traffic; caddy answering again after ${upAt - killedAt} ms, route back ${backAt - upAt} ms later ` +
      `(resync every ${stack.resyncIntervalMs} ms); ${failedDuring} requests failed while it was down, ${after.length} of ${after.length} answered 200 after`);
  } finally {
    loading = false; // also when an assertion failed: the request loop must not keep the process alive
    await load;
    await stack.stop();
  }
});
