// The control plane of the API crash test, as its own process: store, loop and
// HTTP API (startControlPlane) over a data dir, with the world provider's SQLite
// file standing in for the machines, so a SIGKILL loses only what was in memory.
// With FORGE_CRASH_RATE set it also kills itself right after remote writes.
// Sends `{ url }` over IPC once it listens.

import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { resolveConfig } from '../../api/config.ts';
import { startControlPlane } from '../../api/control-plane.ts';
import { openWorldProvider } from '../fakes/world-provider.ts';

const dir = process.argv[2];
if (!dir) throw new Error('usage: api-child.ts DATA_DIR');
const crashRate = Number(process.env.FORGE_CRASH_RATE ?? 0);
const env = {
  FORGE_DATA_DIR: dir, FORGE_API_ADDR: '127.0.0.1:0',
  FORGE_ENCRYPTION_KEY: Buffer.alloc(32, 9).toString('base64'), FORGE_JWT_SECRET: Buffer.alloc(32, 8).toString('base64'),
};
const { config } = resolveConfig(env, {}, randomBytes, dir);
const world = openWorldProvider({
  path: join(dir, 'world.db'),
  afterRemoteWrite: () => {
    if (crashRate > 0 && Math.random() < crashRate) process.kill(process.pid, 'SIGKILL');
  },
});
const plane = await startControlPlane(config, { env: {}, providers: [world], noLocalAgent: true, logger: false, resyncIntervalMs: 50 });
process.send?.({ url: plane.url });
