// A worker agent of the agent chaos tests, as its own process (what `forge agent`
// runs), so a test can SIGKILL it or let it outlive the control plane.
// Sends `{ id }` over IPC once registered. Every 50 ms it looks for duplicates:
// two live instances (not exited, not being stopped) of one service replica at
// one release hash. Asked 'duplicates' or 'instances' over IPC, it answers
// `{ duplicates }` or `{ instances }` (its heartbeat's instance reports).

import { parsePortRange, startAgent } from '../../agent/daemon.ts';

const [server, dataDir, cgroupRoot, ports] = process.argv.slice(2);
if (!server || !dataDir || !cgroupRoot || !ports) throw new Error('usage: agent-child.ts SERVER DATA_DIR CGROUP_ROOT FROM-TO');
const agent = await startAgent({
  server, token: process.env.CHAOS_AGENT_TOKEN ?? '', dataDir, cgroupRoot, name: process.env.CHAOS_AGENT_NAME ?? cgroupRoot,
  // CHAOS_AGENT_ISOLATION=off (the cron chaos test): development mode without a sandbox, so a
  // job can leave its own side effect in a host file the test reads.
  ...(process.env.CHAOS_AGENT_ISOLATION === 'off' ? { mode: 'development' as const, isolation: 'off' as const } : { mode: 'production' as const }),
  portRange: parsePortRange(ports), metricsPort: null,
  // Enough room that placement never refuses: the test is about crashes, not capacity.
  capacity: { cpus: 64, memoryBytes: 64 * 1024 ** 3 },
  // Heartbeats at the interval the control plane suggests (CHAOS_HEARTBEAT_MS there).
  claimWaitMs: 2_000, stopGraceMs: 2_000, startTimeoutMs: 30_000, maxConcurrentTasks: 8,
  log: () => {},
});

const duplicates = new Set<string>();
setInterval(() => {
  const live = new Map<string, string>();
  for (const i of agent.instances()) {
    if (i.state !== 'running' && i.state !== 'starting') continue; // an unhealthy one may be being replaced
    const slot = `${i.service}/${i.replica}@${i.hash.slice(0, 12)}`;
    const other = live.get(slot);
    if (other !== undefined) duplicates.add(`${slot}: ${other} and ${i.id}`);
    live.set(slot, i.id);
  }
}, 50).unref();

process.on('message', (m) => {
  if (m === 'duplicates') process.send?.({ duplicates: [...duplicates] });
  if (m === 'instances') process.send?.({ instances: agent.instances() });
});
// As `forge agent` does on SIGTERM: stop every instance, remove the cgroup root, exit 0.
process.once('SIGTERM', () => void agent.stop().then(() => process.exit(0), () => process.exit(1)));
process.send?.({ id: agent.id });
