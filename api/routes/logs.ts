// GET …/:id/logs: plain text, or server-sent events when following
// (`?follow=true` or `Accept: text/event-stream`). Without a log source wired in,
// the service's events stand in as its log lines.

import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance } from 'fastify';
import type { EventRow } from '../../store/types.ts';
import type { ApiContext } from '../context.ts';
import { idParams, logsQuery } from '../schemas.ts';
import { requireServiceToRead } from '../service-writes.ts';

const MAX_PLAIN_LINES = 10_000;
const EVENT_POLL_MS = 1_000;

export function eventLine(event: EventRow): string {
  return `${event.time} ${event.type} ${event.reason}: ${event.message}`;
}

/** One SSE frame; a line holding newlines becomes several `data:` fields of one event. */
export function sseFrame(line: string): string {
  return `${line.split(/\r?\n/).map((part) => `data: ${part}`).join('\n')}\n\n`;
}

async function* eventLines(ctx: ApiContext, name: string, follow: boolean, signal: AbortSignal): AsyncIterable<string> {
  let after = 0;
  for (const event of ctx.store.events.list(name, { limit: 200 })) {
    after = event.id;
    yield eventLine(event);
  }
  while (follow && !signal.aborted) {
    await sleep(EVENT_POLL_MS, undefined, { signal }).catch(() => undefined);
    for (const event of ctx.store.events.list(name, { afterId: after, limit: 200 })) {
      after = event.id;
      yield eventLine(event);
    }
  }
}

export function registerLogsRoute(app: FastifyInstance, ctx: ApiContext, path: string): void {
  app.get<{ Params: { id: string }; Querystring: { follow?: boolean } }>(
    path, { schema: { params: idParams, querystring: logsQuery } }, async (request, reply) => {
      const row = requireServiceToRead(ctx, request.params.id);
      const sse = request.query.follow === true || (request.headers.accept ?? '').includes('text/event-stream');
      const follow = request.query.follow === true;
      const abort = new AbortController();
      reply.raw.on('close', () => abort.abort());
      const lines = ctx.logs ? ctx.logs(row.name, { follow, signal: abort.signal }) : eventLines(ctx, row.name, follow, abort.signal);

      if (!sse) {
        const out: string[] = [];
        for await (const line of lines) {
          out.push(line);
          if (out.length >= MAX_PLAIN_LINES) break;
        }
        abort.abort();
        return reply.type('text/plain; charset=utf-8').send(out.map((l) => `${l}\n`).join(''));
      }
      async function* frames(): AsyncIterable<string> {
        try {
          for await (const line of lines) yield sseFrame(line);
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
