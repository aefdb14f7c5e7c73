// The control plane of the agent chaos tests, as its own process: store, loop,
// HTTP API and the agent provider over a data dir, on a fixed loopback port so
// agents find it again after a restart. No embedded agent: the agents are their
// own processes (test/chaos/agent-child.ts) and outlive a SIGKILL of this one.
// CHAOS_HEARTBEAT_MS sets the heartbeat interval agents are told (default 300 ms;
// an agent is offline after three missed). Sends `{ url }` over IPC once it listens.

import { randomBytes } from 'node:crypto';
import { resolveConfig } from '../../api/config.ts';
import { startControlPlane } from '../../api/control-plane.ts';

const [dir, port] = process.argv.slice(2);
if (!dir || !port) throw new Error('usage: plane-child.ts DATA_DIR PORT');
const env = {
  FORGE_DATA_DIR: dir, FORGE_API_ADDR: `127.0.0.1:${port}`, FORGE_AGENT_TOKEN: process.env.CHAOS_AGENT_TOKEN,
  FORGE_ENCRYPTION_KEY: Buffer.alloc(32, 9).toString('base64'), FORGE_JWT_SECRET: Buffer.alloc(32, 8).toString('base64'),
};
const { config } = resolveConfig(env, {}, randomBytes, dir);
const plane = await startControlPlane(config, {
  env, noLocalAgent: true, logger: false, resyncIntervalMs: 250, heartbeatIntervalMs: Number(process.env.CHAOS_HEARTBEAT_MS ?? 300),
});
process.send?.({ url: plane.url });
