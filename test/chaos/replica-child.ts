// One `forge server` replica of the leader chaos test, as its own process: store on the
// test's PostgreSQL, API, agent protocol and (when elected) the loop, on a fixed loopback port
// so agents and the test find it again after a restart. No embedded agent. Election timings
// come from CHAOS_LEADER_POLL_MS and CHAOS_SESSION_TIMEOUT_MS, the heartbeat interval agents
// are told from CHAOS_HEARTBEAT_MS. Sends `{ url }` over IPC once it listens.

import { randomBytes } from 'node:crypto';
import { resolveConfig } from '../../api/config.ts';
import { startControlPlane } from '../../api/control-plane.ts';

const [dir, port, replica, databaseUrl] = process.argv.slice(2);
if (!dir || !port || !replica || !databaseUrl) throw new Error('usage: replica-child.ts DATA_DIR PORT REPLICA DATABASE_URL');
const env = {
  FORGE_DATA_DIR: dir, FORGE_API_ADDR: `127.0.0.1:${port}`, FORGE_AGENT_TOKEN: process.env.CHAOS_AGENT_TOKEN,
  FORGE_DATABASE_URL: databaseUrl, FORGE_REPLICA: replica,
  FORGE_ENCRYPTION_KEY: Buffer.alloc(32, 9).toString('base64'), FORGE_JWT_SECRET: Buffer.alloc(32, 8).toString('base64'),
};
const { config } = resolveConfig(env, {}, randomBytes, dir);
const plane = await startControlPlane(config, {
  env, noLocalAgent: true, logger: false, resyncIntervalMs: 250, heartbeatIntervalMs: Number(process.env.CHAOS_HEARTBEAT_MS ?? 500),
  leader: { pollMs: Number(process.env.CHAOS_LEADER_POLL_MS ?? 200), sessionTimeoutMs: Number(process.env.CHAOS_SESSION_TIMEOUT_MS ?? 2_000) },
});
process.send?.({ url: plane.url });
