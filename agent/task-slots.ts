// How many claimed tasks an agent works on at once, when its operator did not say.
// Most of an instance start is waiting, not the agent's own CPU: on the app's own CPU
// quota (a 0.1-CPU service takes ten times as long to boot), on its health check, on a
// download. Four tasks per host CPU keeps a 2-core host busy through a fleet bring-up
// (bench/pm2.ts, 50 sandboxed 0.1-CPU apps on 2 cores: 18.8-22.9 s with 8 slots, 24.3-29.9 s
// with 4, 26.7 s with 16, where the host's own CPU becomes the limit), and the upper bound
// keeps a big host from starting more sandboxes than its own event loop can set up and
// health-check at once.

const PER_CPU = 4;
const MIN_SLOTS = 4;
const MAX_SLOTS = 32;

export function defaultTaskSlots(hostCpus: number): number {
  const cpus = Number.isFinite(hostCpus) && hostCpus > 0 ? Math.floor(hostCpus) : 1;
  return Math.min(MAX_SLOTS, Math.max(MIN_SLOTS, PER_CPU * cpus));
}
