// GET …/:id/logs: the app output (or, with `build`, the build output) agents shipped,
// from the store's bounded window. Plain text, JSON (`Accept: application/json`), or
// server-sent events when following (`?follow=1` or `Accept: text/event-stream`): the
// tail first, then each new line as it is stored. Events are not logs: they stay in
// GET …/:id/events. A wired-in log source (ctx.logs) replaces the store.

import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance } from 'fastify';
import { ForgeError } from '../../errors/index.ts';
import type { LogLineRow, LogQuery } from '../../store/index.ts';
import type { ApiContext } from '../context.ts';
import { idParams } from '../schemas.ts';
import { requireServiceToRead } from '../service-writes.ts';

const DEFAULT_TAIL = 200;
const MAX_LINES = 10_000;
const FOLLOW_POLL_MS = 250;
const KEEPALIVE_MS = 15_000;

export const logsQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    follow: { type: 'string', enum: ['1', '0', 'true', 'false'] },
    tail: { type: 'integer', minimum: 1, maximum: MAX_LINES },
    since: { type: 'string', minLength: 1, maxLength: 40 },
    instance: { type: 'string', minLength: 1, maxLength: 128 },
    build: { type: 'string', minLength: 1, maxLength: 160 },
  },
} as const;

interface LogsQuerystring {
  follow?: string;
  tail?: number;
  since?: string;
  instance?: string;
  build?: string;
}

/** `TIME SOURCE STREAM line`, where SOURCE is the instance id (or the build id for build output). */
export function logLine(row: LogLineRow): string {
  return `${new Date(row.timeMs).toISOString()} ${row.build ?? row.instance} ${row.stream} ${row.line}`;
}

/** One SSE frame; a line holding newlines becomes several `data:` fields of one event. */
export function sseFrame(line: string, id?: number): string {
  return `${id === undefined ? '' : `id: ${id}\n`}${line.split(/\r?\n/).map((part) => `data: ${part}`).join('\n')}\n\n`;
}

/** `10m`, `90s`, `2h`, `1d` before now, or an ISO time. Pure. */
export function parseSince(text: string, now: number): number | undefined {
  const match = /^(\d{1,9})(ms|s|m|h|d)$/.exec(text);
  if (match) {
    const unit = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] as 'ms' | 's' | 'm' | 'h' | 'd'];
    return now - Number(match[1]) * unit;
  }
  const at = /^\d{4}-\d{2}-\d{2}T/.test(text) ? Date.parse(text) : Number.NaN;
  return Number.isFinite(at) ? at : undefined;
}

function storeQuery(ctx: ApiContext, q: LogsQuerystring): LogQuery {
  const out: LogQuery = { tail: q.tail ?? DEFAULT_TAIL, limit: MAX_LINES };
  if (q.since !== undefined) {
    const since = parseSince(q.since, ctx.now());
    if (since === undefined) {
      throw new ForgeError('E_BAD_REQUEST', `since: \`${q.since}\` is neither a duration (10m, 2h, 1d) nor an ISO time`);
    }
    out.sinceMs = since;
  }
  if (q.instance !== undefined) out.instance = q.instance;
  if (q.build !== undefined && q.build !== 'false' && q.build !== '0') {
    out.build = q.build === 'true' || q.build === '1' || q.build === 'latest' ? 'latest' : q.build;
  }
  return out;
}

interface Line { text: string; seq?: number; keepalive?: true }

async function* storedLines(ctx: ApiContext, name: string, query: LogQuery, follow: boolean, signal: AbortSignal): AsyncIterable<Line> {
  let after = 0;
  // "The latest build" is fixed when the request starts; a follower of a service with no build
  // yet waits for its first one.
  let build = query.build === 'latest' ? ctx.store.logs.latestBuild(name) : (query.build ?? null);
  if (build !== null || query.build === undefined) {
    for (const row of ctx.store.logs.list(name, { ...query, ...(build === null ? {} : { build }) })) {
      after = row.seq;
      yield { text: logLine(row), seq: row.seq };
    }
  }
  let quietSince = Date.now();
  while (follow && !signal.aborted) {
    await sleep(FOLLOW_POLL_MS, undefined, { signal }).catch(() => undefined);
    if (signal.aborted) return;
    if (query.build !== undefined && build === null) build = ctx.store.logs.latestBuild(name);
    const rows = query.build !== undefined && build === null ? [] : ctx.store.logs.list(name, {
      ...(query.instance === undefined ? {} : { instance: query.instance }),
      ...(query.sinceMs === undefined ? {} : { sinceMs: query.sinceMs }),
      ...(build === null ? {} : { build }),
      afterSeq: after, limit: 1_000,
    });
    for (const row of rows) {
      after = row.seq;
      yield { text: logLine(row), seq: row.seq };
    }
    if (rows.length > 0) quietSince = Date.now();
    else if (Date.now() - quietSince >= KEEPALIVE_MS) {
      quietSince = Date.now();
      yield { text: '', keepalive: true }; // a comment frame keeps idle proxies from closing the stream
    }
  }
}

async function* sourceLines(source: AsyncIterable<string>): AsyncIterable<Line> {
  for await (const text of source) yield { text };
}

export function registerLogsRoute(app: FastifyInstance, ctx: ApiContext, path: string): void {
  app.get<{ Params: { id: string }; Querystring: LogsQuerystring }>(
    path, { schema: { params: idParams, querystring: logsQuery } }, async (request, reply) => {
      const row = requireServiceToRead(ctx, request.params.id);
      const accept = request.headers.accept ?? '';
      const follow = request.query.follow === '1' || request.query.follow === 'true';
      const sse = follow || accept.includes('text/event-stream');
      const query = storeQuery(ctx, request.query);
      // A reconnecting EventSource-style client resumes after the last line it saw.
      const resume = Number(request.headers['last-event-id']);
      if (Number.isSafeInteger(resume) && resume > 0) query.afterSeq = resume;
      if (!sse && !ctx.logs && accept.includes('application/json')) return reply.send({ lines: ctx.store.logs.list(row.name, query) });
      const abort = new AbortController();
      reply.raw.on('close', () => abort.abort());
      const lines = ctx.logs
        ? sourceLines(ctx.logs(row.name, { follow, signal: abort.signal }))
        : storedLines(ctx, row.name, query, follow, abort.signal);

      if (!sse) {
        const out: Line[] = [];
        for await (const line of lines) {
          out.push(line);
          if (out.length >= MAX_LINES) break;
        }
        abort.abort();
        return reply.type('text/plain; charset=utf-8').send(out.map((l) => `${l.text}\n`).join(''));
      }
      async function* frames(): AsyncIterable<string> {
        try {
          for await (const line of lines) yield line.keepalive ? ': keepalive\n\n' : sseFrame(line.text, line.seq);
          yield 'event: end\ndata: \n\n';
        } finally {
          abort.abort();
        }
      }
      return reply
        .type('text/event-stream; charset=utf-8')
        .header('cache-control', 'no-cache')
        .header('x-accel-buffering', 'no')
        .send(Readable.from(frames()));
    });
}
