// How often the loop's full resync runs when the operator did not say.
// With SQLite one process takes every write and nudges its own loop at once, so the resync only
// repairs drift: every 30 s. With PostgreSQL a write can land on a standby (an API call, an
// agent's result), and nothing wakes the leader for it: the leader finds it at its next resync,
// so that interval is how late a write through a standby is acted on. A no-op pass reads one
// state_version row there (bench/reconcile.ts: 1-3 ms at 200-1000 services), so every 2 s.

export const SINGLE_PROCESS_RESYNC_MS = 30_000;
export const REPLICATED_RESYNC_MS = 2_000;

export function defaultResyncIntervalMs(replicated: boolean): number {
  return replicated ? REPLICATED_RESYNC_MS : SINGLE_PROCESS_RESYNC_MS;
}
