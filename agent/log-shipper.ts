// Ships app and build output to the control plane: lines wait in a bounded in-memory
// queue (the oldest are dropped when it is full, and the drop is said in the stream),
// go out in batches, and a batch that was not accepted is sent again after a pause.
// Nothing is kept on disk: what is still queued when the agent dies is lost (the
// agent's own rotating files under instances/ID/logs keep a copy on the host).

import { setTimeout as sleep } from 'node:timers/promises';
import type { ShippedLine } from '../schemas/agent-protocol.ts';

const DROPPED = '[forge: output dropped before this line: the agent could not ship it in time]';

export interface LogShipperOptions {
  send(lines: ShippedLine[]): Promise<void>;
  /** Lines held at most (default 10 000). */
  maxQueued?: number;
  /** Lines per request (default 500). */
  batchSize?: number;
  /** Pause after lines arrive, to batch them (default 100 ms). */
  lingerMs?: number;
  /** Pause before a failed batch is sent again, doubling up to 8x (default 500 ms). */
  retryMs?: number;
  log?(line: string): void;
}

export interface LogShipper {
  push(line: ShippedLine): void;
  /** Lines waiting (tests). */
  readonly queued: number;
  /**
   * Resolves once every line pushed before the call has been sent (or dropped), or when
   * `deadlineMs` passes or `signal` aborts. A task's result waits on it, so whoever sees the
   * result can read the output that led to it.
   */
  shipped(deadlineMs: number, signal?: AbortSignal): Promise<void>;
  /** Sends what is queued, trying until `deadlineMs` passes; then stops shipping. */
  close(deadlineMs?: number): Promise<void>;
}

export function createLogShipper(options: LogShipperOptions): LogShipper {
  const maxQueued = options.maxQueued ?? 10_000;
  const batchSize = options.batchSize ?? 500;
  const lingerMs = options.lingerMs ?? 100;
  const retryMs = options.retryMs ?? 500;
  // Each line carries the order it was pushed in, so shipped() knows which lines are older than its call.
  const queue: Array<{ seq: number; line: ShippedLine }> = [];
  let inFlight: Array<{ seq: number }> = [];
  let pushed = 0;
  const stopped = new AbortController();
  let wake: (() => void) | null = null;
  let hurry: AbortController | null = null; // cuts the batching pause short while someone waits in shipped()
  let failing = false;
  const waiters = new Set<() => void>();

  function oldestPending(): number {
    return Math.min(inFlight[0]?.seq ?? Infinity, queue[0]?.seq ?? Infinity);
  }

  function moved(): void {
    for (const check of [...waiters]) check();
  }

  function push(line: ShippedLine): void {
    if (stopped.signal.aborted) return;
    pushed += 1;
    queue.push({ seq: pushed, line });
    if (queue.length > maxQueued) {
      const over = queue.length - maxQueued;
      queue.splice(0, over);
      // Said on the first line after the gap, so a reader sees where output is missing.
      const first = queue[0]!;
      if (!first.line.line.startsWith(DROPPED)) queue[0] = { seq: first.seq, line: { ...first.line, line: `${DROPPED} ${first.line.line}` } };
      moved();
    }
    wake?.();
  }

  async function loop(): Promise<void> {
    let backoff = retryMs;
    while (!stopped.signal.aborted || queue.length > 0) {
      if (queue.length === 0) {
        if (stopped.signal.aborted) return;
        await new Promise<void>((resolve) => {
          wake = resolve; // push() and close() call it
        });
        wake = null;
        if (!stopped.signal.aborted && waiters.size === 0) {
          hurry = new AbortController();
          await sleep(lingerMs, undefined, { signal: hurry.signal }).catch(() => undefined);
          hurry = null;
        }
        continue;
      }
      // Out of the queue while in flight, so the bound counts only lines not yet sent.
      const batch = queue.splice(0, batchSize);
      inFlight = batch;
      try {
        await options.send(batch.map((entry) => entry.line));
        inFlight = [];
        moved();
        backoff = retryMs;
        if (failing) options.log?.('log shipping works again');
        failing = false;
      } catch (error) {
        if (!failing) options.log?.(`log shipping failed (will retry): ${(error as Error).message}`);
        failing = true;
        // Back in front, within the bound: newer lines win over older ones.
        const room = Math.max(0, maxQueued - queue.length);
        queue.unshift(...batch.slice(Math.max(0, batch.length - room)));
        inFlight = [];
        moved();
        if (closing) return;
        await sleep(backoff);
        backoff = Math.min(backoff * 2, retryMs * 8);
      }
    }
  }

  let closing = false;
  const running = loop();

  return {
    push,
    get queued() {
      return queue.length;
    },
    shipped(deadlineMs, signal) {
      const mark = pushed;
      if (oldestPending() > mark || stopped.signal.aborted || signal?.aborted === true) return Promise.resolve();
      return new Promise<void>((resolve) => {
        const done = (): void => {
          waiters.delete(check);
          clearTimeout(timer);
          signal?.removeEventListener('abort', done);
          resolve();
        };
        const check = (): void => {
          if (oldestPending() > mark || stopped.signal.aborted) done();
        };
        const timer = setTimeout(done, deadlineMs);
        signal?.addEventListener('abort', done, { once: true });
        waiters.add(check);
        hurry?.abort();
      });
    },
    async close(deadlineMs = 2_000) {
      stopped.abort();
      moved(); // nobody waits on a shipper that stops
      wake?.();
      const timer = setTimeout(() => { closing = true; }, deadlineMs);
      await Promise.race([running, sleep(deadlineMs + 100)]);
      closing = true;
      clearTimeout(timer);
    },
  };
}
