// "Edit one app, see the new version answer" under load, the same way for
// every manager: autocannon against an address (and Host header), the edit
// after a short warm-up, the time from the edit to the first v2 body, and the
// requests that failed (connection errors, timeouts, non-2xx) in the window.

import { startLoad } from '../../test/e2e/load.ts';

export interface SwapResult {
  requests: number;
  /** Connection errors + timeouts + non-2xx responses. */
  failed: number;
  /** Of the connection errors, resets/EPIPE on a keep-alive connection. */
  resets: number;
  /** From the start of the edit (file write, then the manager's command) to the first v2 answer. */
  newVersionMs: number;
  statuses: Record<string, number>;
}

export interface SwapOptions {
  /** The whole load window, warm-up included. */
  loadMs: number;
  beforeEditMs: number;
  connections: number;
}

/** Polls `check` every 20 ms until it is true; fails after `limitMs`. */
export async function untilTrue(limitMs: number, check: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`gave up after ${limitMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Load on `httpAddr`; after `beforeEditMs`, `edit()` (write v2 and tell the manager);
 * waits for v2 to answer and for `settled()` (the old release gone), then the rest of the window.
 */
export async function swapUnderLoad(
  httpAddr: string, host: string, options: SwapOptions,
  edit: () => Promise<void>, settled: () => Promise<boolean> = async () => true,
): Promise<SwapResult> {
  const load = startLoad({ httpAddr, host, connections: options.connections, maxSeconds: 60 });
  const started = Date.now();
  try {
    await new Promise((r) => setTimeout(r, options.beforeEditMs));
    const editedAt = Date.now();
    await edit();
    await untilTrue(45_000, () => load.seen('v2') !== undefined);
    const newVersionMs = load.seen('v2')! - editedAt;
    await untilTrue(45_000, settled);
    const left = options.loadMs - (Date.now() - started);
    if (left > 0) await new Promise((r) => setTimeout(r, left));
    const report = await load.finish();
    return { requests: report.requests, failed: report.errors + report.non2xx, resets: report.resets, newVersionMs, statuses: report.statuses };
  } catch (error) {
    await load.finish().catch(() => undefined);
    throw error;
  }
}
