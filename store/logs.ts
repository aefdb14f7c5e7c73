// App and build output shipped by agents. Each "source" (one instance's app output, or one
// build's output) keeps a bounded window, pruned on write: its newest `maxLines` lines and at
// most `maxBytes` of text. A service keeps the windows of its newest `maxSourcesPerService`
// sources, and a source that has written nothing for `goneAfterMs` (an instance long gone)
// is dropped. Lines are stored as shipped: masking injected secrets is the agent's job.

import { type Sql, transactional } from './sql.ts';
import { type Clock, capText } from './util.ts';

export type LogStream = 'stdout' | 'stderr';

export interface LogLineInput {
  service: string;
  instance: string;
  /** The build's id for build output; absent for the app's own output. */
  build?: string | null;
  stream: LogStream;
  /** Epoch ms when the agent read the line. */
  timeMs: number;
  line: string;
}

export interface LogLineRow {
  seq: number;
  service: string;
  instance: string;
  build: string | null;
  stream: LogStream;
  timeMs: number;
  line: string;
}

export interface LogWindow {
  maxLines: number;
  maxBytes: number;
  maxSourcesPerService: number;
  goneAfterMs: number;
}

export const DEFAULT_LOG_WINDOW: LogWindow = {
  maxLines: 2_000,
  maxBytes: 1024 * 1024,
  maxSourcesPerService: 20,
  goneAfterMs: 7 * 24 * 60 * 60 * 1000,
};

/** A longer line is cut (the agent cuts at 16 KiB; the store keeps less). */
export const MAX_STORED_LINE = 8 * 1024;
const GONE_SWEEP_EVERY_MS = 60_000;

export interface LogQuery {
  instance?: string;
  /** 'latest': the newest build's output; a build id: that build's; absent: the app's output only. */
  build?: 'latest' | string;
  /** Only lines read at or after this epoch ms. */
  sinceMs?: number;
  /** Only lines after this seq (for following). */
  afterSeq?: number;
  /** The newest N of what matches (default and cap: `limit`). */
  tail?: number;
  /** Most rows returned; default 1000. */
  limit?: number;
}

const COLUMNS = 'seq, service, instance, build, stream, time_ms AS timeMs, line';

export function createLogsStore(db: Sql, clock: Clock, window: LogWindow = DEFAULT_LOG_WINDOW) {
  const insert = db.prepare(
    `INSERT INTO log_lines (service, instance, build, source, stream, time_ms, line)
     VALUES (@service, @instance, @build, @source, @stream, @timeMs, @line)`,
  );
  const known = db.prepare<[string], { one: number }>('SELECT 1 AS one FROM log_lines WHERE source = ? LIMIT 1');
  // The newest line that falls outside the window (by count or by bytes, counted newest first).
  const pruneSource = db.prepare(
    `DELETE FROM log_lines WHERE source = @source AND seq <= (
       SELECT seq FROM (
         SELECT seq, SUM(length(CAST(line AS BLOB))) OVER (ORDER BY seq DESC) AS bytes,
                ROW_NUMBER() OVER (ORDER BY seq DESC) AS n
         FROM log_lines WHERE source = @source
       ) AS w WHERE n > @maxLines OR bytes > @maxBytes ORDER BY seq DESC LIMIT 1)`,
  );
  const pruneService = db.prepare(
    `DELETE FROM log_lines WHERE service = @service AND source IN (
       SELECT source FROM log_lines WHERE service = @service GROUP BY source
       ORDER BY MAX(seq) DESC LIMIT -1 OFFSET @keep)`,
  );
  const pruneGone = db.prepare(
    `DELETE FROM log_lines WHERE source IN (
       SELECT source FROM log_lines GROUP BY source HAVING MAX(time_ms) < @cutoff)`,
  );
  const latestBuild = db.prepare<[string], { build: string }>(
    'SELECT build FROM log_lines WHERE service = ? AND build IS NOT NULL ORDER BY seq DESC LIMIT 1',
  );
  // Tasks are placed on one agent: this is how the control plane knows an instance is that agent's.
  // The task that placed the instance on this agent: a run or one-off (build) task targeted at it, or a job
  // task it holds (job tasks may go to any agent, so their target can be empty).
  const owner = db.prepare<{ agentId: string; instanceId: string }, { service: string }>(
    `SELECT service_name AS service FROM tasks WHERE (agent_id = @agentId OR (kind = 'job' AND lease_owner = @agentId))
     AND kind IN ('run', 'build', 'job') AND json_extract(payload, '$.instanceId') = @instanceId ORDER BY seq DESC LIMIT 1`,
  );
  let lastGoneSweep = 0;

  const append = transactional(db, (lines: readonly LogLineInput[]): number => {
    const touched = new Map<string, string>();
    const fresh = new Set<string>();
    for (const l of lines) {
      const source = sourceOf(l);
      if (!touched.has(source)) {
        touched.set(source, l.service);
        if (known.get(source) === undefined) fresh.add(l.service);
      }
      insert.run({
        service: l.service, instance: l.instance, build: l.build ?? null, source, stream: l.stream,
        timeMs: Math.trunc(l.timeMs), line: capText(l.line, MAX_STORED_LINE),
      });
    }
    for (const source of touched.keys()) pruneSource.run({ source, maxLines: window.maxLines, maxBytes: window.maxBytes });
    // Only a new source can push a service past its count of sources.
    for (const service of fresh) pruneService.run({ service, keep: window.maxSourcesPerService });
    const now = clock();
    if (now - lastGoneSweep >= GONE_SWEEP_EVERY_MS) {
      lastGoneSweep = now;
      pruneGone.run({ cutoff: now - window.goneAfterMs });
    }
    return lines.length;
  });

  return {
    /** Stores shipped lines and prunes the windows they landed in; returns how many were stored. */
    append: (lines: readonly LogLineInput[]): number => (lines.length === 0 ? 0 : append(lines)),
    /** Oldest first. */
    list(service: string, query: LogQuery = {}): LogLineRow[] {
      const limit = Math.max(1, Math.min(query.limit ?? 1_000, 10_000));
      const where = ['service = @service'];
      const params: Record<string, string | number> = { service };
      if (query.build === undefined) where.push('build IS NULL');
      else {
        const build = query.build === 'latest' ? latestBuild.get(service)?.build : query.build;
        if (build === undefined) return [];
        where.push('build = @build');
        params.build = build;
      }
      if (query.instance !== undefined) {
        where.push('instance = @instance');
        params.instance = query.instance;
      }
      if (query.sinceMs !== undefined) {
        where.push('time_ms >= @sinceMs');
        params.sinceMs = Math.trunc(query.sinceMs);
      }
      if (query.afterSeq !== undefined) {
        where.push('seq > @afterSeq');
        params.afterSeq = query.afterSeq;
      }
      params.limit = Math.min(query.tail ?? limit, limit);
      // Following reads forward from a seq; everything else wants the newest lines.
      const sql = query.afterSeq !== undefined && query.tail === undefined
        ? `SELECT ${COLUMNS} FROM log_lines WHERE ${where.join(' AND ')} ORDER BY seq LIMIT @limit`
        : `SELECT * FROM (SELECT ${COLUMNS} FROM log_lines WHERE ${where.join(' AND ')} ORDER BY seq DESC LIMIT @limit) AS tail ORDER BY seq`;
      return db.prepare(sql).all(params) as LogLineRow[];
    },
    /** The service of an instance placed on this agent, or null when the agent was never given it. */
    serviceOfInstance: (agentId: string, instanceId: string): string | null => owner.get({ agentId, instanceId })?.service ?? null,
    /** The newest build id with stored output, if any. */
    latestBuild: (service: string): string | null => latestBuild.get(service)?.build ?? null,
    /** Lines kept for a service (tests and metrics). */
    count(service: string): number {
      return (db.prepare('SELECT COUNT(*) AS n FROM log_lines WHERE service = ?').get(service) as { n: number }).n;
    },
  };
}

function sourceOf(line: LogLineInput): string {
  return line.build ? `build:${line.build}` : `instance:${line.instance}`;
}

export type LogsStore = ReturnType<typeof createLogsStore>;
