// Continuous load through caddy with autocannon's library API, for as long as a
// test needs it (a deploy, a rollback): start(), do the thing, finish(). Every
// response is counted by status, and the versions the bodies name are recorded
// so a test can see when the new release started answering. autocannon is
// wrk-style: keep-alive connections, no retries, so a connection caddy or an
// instance closes under a request counts as an error.

import { createRequire } from 'node:module';

// autocannon ships no types; this is the slice of its library API used here.
interface CannonClient {
  on(event: 'body', listener: (body: Buffer) => void): void;
}
interface CannonInstance extends PromiseLike<CannonResult> {
  stop(): void;
  on(event: 'response', listener: (client: unknown, statusCode: number) => void): void;
  on(event: 'reqError', listener: (error: Error & { code?: string }) => void): void;
}
interface CannonResult {
  errors: number;
  timeouts: number;
  non2xx: number;
  requests: { total: number };
  statusCodeStats?: Record<string, { count: number }>;
}
type Autocannon = (opts: Record<string, unknown>) => CannonInstance;
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

export interface LoadReport {
  requests: number;
  /** Connection errors, timeouts included (autocannon's count). */
  errors: number;
  /** Of those, timeouts (no answer within 5 s). */
  timeouts: number;
  /**
   * Of those, requests written onto a keep-alive connection that was closed
   * under them (ECONNRESET/EPIPE before any response byte), as caddy does to idle
   * client connections on every config load.
   */
  resets: number;
  non2xx: number;
  /** Status code → count, for a readable failure message. */
  statuses: Record<string, number>;
  /** What each connection error was, with when it happened (epoch ms), for a readable failure. */
  errorLog: string[];
  /** Epoch ms at which each version first answered. */
  firstSeen: Record<string, number>;
}

export interface Load {
  /** Epoch ms at which `version` first answered, if it has. */
  seen(version: string): number | undefined;
  /** What was seen so far (requests counts only at finish). */
  report(): Pick<LoadReport, 'statuses' | 'firstSeen'>;
  finish(): Promise<LoadReport>;
}

/** Starts load against caddy's listener with a Host header; it runs until finish() (or maxSeconds). */
export function startLoad(options: { httpAddr: string; host: string; connections?: number; maxSeconds?: number }): Load {
  const firstSeen: Record<string, number> = {};
  const statuses: Record<string, number> = {};
  const instance = autocannon({
    url: `http://${options.httpAddr}/`,
    headers: { host: options.host },
    connections: options.connections ?? 8,
    duration: options.maxSeconds ?? 90,
    timeout: 5,
    setupClient(client: CannonClient) {
      client.on('body', (body) => {
        const version = /node-hello (v\d+)/.exec(body.toString('utf8'))?.[1];
        if (version !== undefined && firstSeen[version] === undefined) firstSeen[version] = Date.now();
      });
    },
  });
  const errorLog: string[] = [];
  let stopping = false;
  let resets = 0;
  instance.on('reqError', (error) => {
    if (error.code === 'ECONNRESET' || error.code === 'EPIPE') resets += 1;
    errorLog.push(`${Date.now()}${stopping ? ' (while stopping)' : ''} ${error.code ?? ''} ${error.message}`);
  });
  instance.on('response', (_client, statusCode) => {
    statuses[statusCode] = (statuses[statusCode] ?? 0) + 1;
  });
  return {
    seen: (version) => firstSeen[version],
    report: () => ({ statuses: { ...statuses }, firstSeen: { ...firstSeen } }),
    async finish() {
      stopping = true;
      instance.stop();
      const result = await instance;
      return {
        requests: result.requests.total,
        errors: result.errors, // timeouts are counted among them
        timeouts: result.timeouts,
        resets,
        non2xx: result.non2xx,
        statuses,
        errorLog,
        firstSeen,
      };
    },
  };
}
