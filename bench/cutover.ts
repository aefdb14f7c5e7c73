// Zero-downtime cutover figure: node-hello behind Debian's caddy with a real
// embedded agent; ~10 s of autocannon load through caddy while server.js goes
// from v1 to v2 and the folder is re-applied the way `forge dev` does.
//   npx tsx bench/cutover.ts        (as root: sandboxes need cgroups)
// Prints `cutover: <requests> requests, <failed> failed or non-2xx, cutover took <ms> ms
// (from apply to the new version answering)`, then what the failures were.

import { startLoad } from '../test/e2e/load.ts';
import { APP, HOST, eventually, startStack } from '../test/e2e/stack.ts';

const LOAD_MS = 10_000;
const BEFORE_APPLY_MS = 2_000;
const CONNECTIONS = 8;

async function main(): Promise<void> {
  const stack = await startStack();
  try {
    const first = await stack.apply();
    await eventually('v1 through caddy', 45_000, async () =>
      stack.plane.store.status.get(APP)?.observedGeneration === first && (await stack.get()) === '200 hello from node-hello v1');

    const loadsBefore = stack.caddyLoads();
    const started = Date.now();
    const load = startLoad({ httpAddr: stack.httpAddr, host: HOST, connections: CONNECTIONS, maxSeconds: 60 });
    await new Promise((resolve) => setTimeout(resolve, BEFORE_APPLY_MS));
    stack.editSource('v2');
    const appliedAt = Date.now();
    const generation = await stack.apply();
    const answeredAt = await eventually('v2 through caddy', 45_000, () => load.seen('v2'));
    // Keep the load on until the old release is stopped (drain included) and the window is full.
    await eventually('the old release gone', 45_000, async () => {
      const [observed] = await stack.plane.observe([APP]);
      return stack.plane.store.status.get(APP)?.observedGeneration === generation && observed?.instances.length === 1;
    });
    const left = LOAD_MS - (Date.now() - started);
    if (left > 0) await new Promise((resolve) => setTimeout(resolve, left));
    const report = await load.finish();
    const caddyLoads = stack.caddyLoads() - loadsBefore;

    const failed = report.errors + report.non2xx;
    console.log(`cutover: ${report.requests} requests, ${failed} failed or non-2xx, cutover took ${answeredAt - appliedAt} ms (from apply to the new version answering)`);
    console.log(`cutover failed requests: ${failed} requests (of ${report.requests}; target ≤ 0)`);
    console.log(`cutover time: ${answeredAt - appliedAt} ms (from apply to the new version answering)`);
    console.log(`  non-2xx: ${report.non2xx}; connection errors: ${report.errors}, of which ${report.resets} were keep-alive ` +
      `connections caddy closed when it loaded the new route (${caddyLoads} config load(s) during the run)`);
  } finally {
    await stack.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
