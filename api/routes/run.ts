// POST /api/compute/services/:id/run {command: [argv…], detach?, timeout?}: a one-off process
// in a fresh sandbox with the service's current release (its newest succeeded one) and
// environment, secrets included; never routed. Without `detach` the answer is a stream of
// newline-delimited JSON: `{"line": …}` per output line, then `{"exitCode": N, "message": …}`.
// With `detach` it answers 202 once the process started; its output is kept in the log store
// under the run's id (`forge logs NAME --instance RUN`). A client that goes away ends the run.

import { randomBytes } from 'node:crypto';
import { PassThrough } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { ForgeError, toForgeError } from '../../errors/index.ts';
import { parseDurationMs } from '../../specs/units.ts';
import { actorOf } from '../auth.ts';
import type { ApiContext } from '../context.ts';
import { idParams } from '../schemas.ts';
import { requireService } from '../service-writes.ts';

const DEFAULT_TIMEOUT_MS = 60 * 60_000;
const MAX_TIMEOUT_MS = 24 * 60 * 60_000;

export const runBody = {
  type: 'object',
  additionalProperties: false,
  required: ['command'],
  properties: {
    command: {
      type: 'array', minItems: 1, maxItems: 256, description: 'The program and its arguments (joined with shell quoting, run through /bin/sh -c in the release directory).',
      items: { type: 'string', minLength: 1, maxLength: 8192 },
    },
    detach: { type: 'boolean', description: 'Answer 202 once it started and leave it running; its output goes to the log store.' },
    timeout: { type: 'string', pattern: '^[0-9]+(ms|s|m|h)$', description: 'Kill it after this long (default 1h, at most 24h).' },
  },
} as const;

interface RunBody { command: string[]; detach?: boolean; timeout?: string }

/** argv → one /bin/sh command line: every argument that is not plainly safe is single-quoted. Pure. */
export function shellJoin(argv: readonly string[]): string {
  return argv.map((arg) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`)).join(' ');
}

function timeoutOf(text: string | undefined): number {
  if (text === undefined) return DEFAULT_TIMEOUT_MS;
  const ms = /h$/.test(text) ? Number(text.slice(0, -1)) * 3_600_000 : parseDurationMs(text);
  if (ms === undefined || !Number.isFinite(ms) || ms <= 0 || ms > MAX_TIMEOUT_MS) {
    throw new ForgeError('E_BAD_REQUEST', `timeout must be a duration longer than 0 and at most 24h, got \`${text}\``, { details: { path: 'timeout' } });
  }
  return ms;
}

export function registerRunRoute(app: FastifyInstance, ctx: ApiContext): void {
  app.post<{ Params: { id: string }; Body: RunBody }>('/api/compute/services/:id/run', { schema: { params: idParams, body: runBody } }, async (request, reply) => {
    const row = requireService(ctx, request.params.id);
    const timeoutMs = timeoutOf(request.body.timeout);
    const release = ctx.store.releases.latestSucceeded(row.name);
    if (!release) throw new ForgeError('E_CONFLICT', `${row.name} has no release that ran yet: deploy it first (forge run uses its current release)`);
    const provider = ctx.oneOffs?.provider(release.spec.provider);
    if (!provider) throw new ForgeError('E_COMPUTE_NOT_CONFIGURED', `provider ${release.spec.provider} is not configured on this control plane`);
    if (!provider.capabilities.oneOffs || !provider.runOneOff) {
      throw new ForgeError('E_BAD_REQUEST', `provider ${release.spec.provider} cannot run one-off commands`);
    }
    const secrets = ctx.oneOffs!.secretsFor(row.name);
    const runId = `run_${randomBytes(6).toString('hex')}`;
    const command = shellJoin(request.body.command);
    ctx.store.audit.append({ actor: actorOf(request), action: 'service.run', target: row.name, details: { runId, generation: release.generation, detach: request.body.detach === true } });
    const oneOff = {
      key: row.name, runId, purpose: 'run' as const, spec: release.spec, hash: release.hash, generation: release.generation, command, timeoutMs,
    };
    if (request.body.detach) {
      const started = await provider.runOneOff({ ...oneOff, detach: true }, { secrets });
      return reply.code(202).send({ runId, service: row.name, generation: release.generation, state: started.exitCode === null ? 'running' : 'exited', exitCode: started.exitCode, message: started.message });
    }
    // The run belongs to this request: a client that goes away cancels it (the agent kills it and cleans up).
    const gone = new AbortController();
    // (The response's close, not the request's: a request closes once its body was read.)
    reply.raw.on('close', () => { if (!reply.raw.writableFinished) gone.abort(); });
    const stream = new PassThrough();
    const write = (value: unknown) => stream.write(`${JSON.stringify(value)}\n`);
    void (async () => {
      try {
        const result = await provider.runOneOff!(oneOff, {
          secrets, signal: gone.signal, onLine: (line) => write({ line }),
        });
        write({ runId, exitCode: result.exitCode, ...(result.timedOut ? { timedOut: true } : {}), message: result.message });
      } catch (thrown) {
        const error = toForgeError(thrown, 'E_PROVIDER');
        write({ runId, exitCode: null, error: error.code, message: error.message });
      } finally {
        stream.end();
      }
    })();
    return reply.code(200).header('content-type', 'application/x-ndjson').send(stream);
  });
}
