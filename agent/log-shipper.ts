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
  /** Sends what is queued, trying until `deadlineMs` passes; then stops shipping. */
  close(deadlineMs?: number): Promise<void>;
}

export function createLogShipper(options: LogShipperOptions): LogShipper {
  const maxQueued = options.maxQueued ?? 10_000;
  const batchSize = options.batchSize ?? 500;
  const lingerMs = options.lingerMs ?? 100;
  const retryMs = options.retryMs ?? 500;
  const queue: ShippedLine[] = [];
  const stopped = new AbortController();
  let wake: (() => void) | null = null;
  let failing = false;

  function push(line: ShippedLine): void {
    if (stopped.signal.aborted) return;
    queue.push(line);
    if (queue.length > maxQueued) {
      const over = queue.length - maxQueued;
      queue.splice(0, over);
      // Said on the first line after the gap, so a reader sees where output is missing.
      const first = queue[0]!;
      if (!first.line.startsWith(DROPPED)) queue[0] = { ...first, line: `${DROPPED} ${first.line}` };
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
        if (!stopped.signal.aborted) await sleep(lingerMs);
        continue;
      }
      // Out of the queue while in flight, so the bound counts only lines not yet sent.
      const batch = queue.splice(0, batchSize);
      try {
        await options.send(batch);
        backoff = retryMs;
        if (failing) options.log?.('log shipping works again');
        failing = false;
      } catch (error) {
        if (!failing) options.log?.(`log shipping failed (will retry): ${(error as Error).message}`);
        failing = true;
        // Back in front, within the bound: newer lines win over older ones.
        const room = Math.max(0, maxQueued - queue.length);
        queue.unshift(...batch.slice(Math.max(0, batch.length - room)));
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
    async close(deadlineMs = 2_000) {
      stopped.abort();
      wake?.();
      const timer = setTimeout(() => { closing = true; }, deadlineMs);
      await Promise.race([running, sleep(deadlineMs + 100)]);
      closing = true;
      clearTimeout(timer);
    },
  };
}
