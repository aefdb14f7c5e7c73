// The control plane of the crash test: a loop over a store and a world provider,
// both SQLite files, so a SIGKILL loses only what was in memory. With
// FORGE_CRASH_RATE set it also kills itself right after a remote write, before
// anything about that write is recorded: the worst moment for idempotency.

import { join } from 'node:path';
import { openStore } from '../../store/index.ts';
import { createController } from '../../reconciler/controller.ts';
import { createLoop } from '../../reconciler/loop.ts';
import { openWorldProvider } from '../fakes/world-provider.ts';

const dir = process.argv[2];
if (!dir) throw new Error('usage: crash-child.ts DATA_DIR');
const crashRate = Number(process.env.FORGE_CRASH_RATE ?? 0);

const store = openStore(dir);
const provider = openWorldProvider({
  path: join(dir, 'world.db'),
  ambiguousFailRate: crashRate,
  afterRemoteWrite: () => {
    if (crashRate > 0 && Math.random() < crashRate) process.kill(process.pid, 'SIGKILL');
  },
});
const controller = createController({
  store, provider: () => provider, providers: () => [provider], secretsFor: () => ({}), now: Date.now, pollMs: 20,
});
const loop = createLoop({
  store, controller, providers: () => [provider], resyncIntervalMs: 50, concurrency: 4,
  backoff: { baseMs: 10, maxMs: 100 },
});
loop.start();
process.send?.('ready');
