// GET /api/compute/services/:id/releases: every release (a generation that was
// rolled out) of a service, newest first, with whether it succeeded and why not
// — what `forge releases` and `forge rollback --to` work from. No spec and no
// env in the answer: a release is named by its generation, revision and hash.

import type { FastifyInstance } from 'fastify';
import type { ReleaseRow } from '../../store/types.ts';
import type { ApiContext } from '../context.ts';
import { idParams } from '../schemas.ts';
import { requireServiceToRead } from '../service-writes.ts';

export interface ReleaseJson {
  /** 1 for the first release of this service, counting up. */
  number: number;
  generation: number;
  revision: string | null;
  hash: string;
  /** good: it served; bad: it failed (see cause); pending: rolling out, or never finished. */
  status: 'good' | 'bad' | 'pending';
  createdAt: string;
  cause: string | null;
  /** The release the service's spec is now. */
  current: boolean;
}

const STATUS = { succeeded: 'good', failed: 'bad', pending: 'pending' } as const;

export function releasesJson(rows: readonly ReleaseRow[], currentGeneration: number): ReleaseJson[] {
  const count = rows.length;
  return rows.map((r, i) => ({
    number: count - i,
    generation: r.generation,
    revision: r.revision,
    hash: r.hash.slice(0, 12),
    status: STATUS[r.outcome],
    createdAt: r.createdAt,
    cause: r.reason,
    current: r.generation === currentGeneration,
  }));
}

export function registerReleasesRoute(app: FastifyInstance, ctx: ApiContext): void {
  app.get<{ Params: { id: string } }>('/api/compute/services/:id/releases', { schema: { params: idParams } }, async (request) => {
    const row = requireServiceToRead(ctx, request.params.id);
    return { name: row.name, generation: row.generation, releases: releasesJson(ctx.store.releases.list(row.name), row.generation) };
  });
}
