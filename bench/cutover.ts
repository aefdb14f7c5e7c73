// Zero-downtime cutover figure: node-hello behind Debian's caddy with a real
// embedded agent; ~10 s of autocannon load (16 keep-alive connections, no
// retries, like wrk -c16) through caddy while server.js goes from v1 to v2 and
// the folder is re-applied the way `forge dev` does.
//   npx tsx bench/cutover.ts        (as root: sandboxes need cgroups)
// Prints the failed requests split into non-2xx answers and connection errors
// (resets, refusals, timeouts), the caddy config loads during the run (0 when
// upstreams come from Forge's DNS responder), how long the cutover took, and how
// long caddy took to use the new upstream set after Forge published it (bounded
// by caddy's refresh, 1000 ms by default).

import { startLoad } from '../test/e2e/load.ts';
import { APP, HOST, eventually, startStack } from '../test/e2e/stack.ts';

const LOAD_MS = 10_000;
const BEFORE_APPLY_MS = 2_000;
const CONNECTIONS = 16;

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
    const publishedBefore = stack.routing.upstreamDns?.changedAt(APP);
    stack.editSource('v2');
    const appliedAt = Date.now();
    const generation = await stack.apply();
    const answeredAt = await eventually('v2 through caddy', 45_000, () => load.seen('v2'));
    const publishedAt = stack.routing.upstreamDns?.changedAt(APP);
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
    const pickup = publishedAt !== undefined && publishedAt !== publishedBefore ? `${answeredAt - publishedAt} ms` : 'n/a (static upstreams)';
    console.log(`cutover: ${report.requests} requests over ${CONNECTIONS} keep-alive connections, ${report.non2xx} non-2xx, ` +
      `${report.errors} connection errors, ${caddyLoads} caddy config load(s), cutover took ${answeredAt - appliedAt} ms`);
    console.log(`cutover failed requests: ${failed} requests (of ${report.requests}; target ≤ 0)`);
    console.log(`cutover connection errors: ${report.errors} requests (resets ${report.resets}, timeouts ${report.timeouts}; target ≤ 0 requests)`);
    console.log(`cutover caddy config loads: ${caddyLoads} loads (target ≤ 0 loads)`);
    console.log(`cutover time: ${answeredAt - appliedAt} ms (from apply to the new version answering)`);
    console.log(`cutover upstream pickup: ${pickup} (from Forge publishing the new set to caddy answering from it; bound: caddy's refresh)`);
    if (report.errorLog.length > 0) console.log(`  errors: ${report.errorLog.slice(0, 10).join('; ')}`);
    console.log(`  ${stack.routing.notice}`);
  } finally {
    await stack.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
