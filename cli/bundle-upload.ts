// The upload step of `forge apply`: each source-mode service's folder becomes a
// bundle (specs/bundle.ts); the control plane is asked whether it already has
// the digest (HEAD) and only a missing one is sent (PUT), with progress. The
// digests go into the apply body, where they become the specs' revisions.

import { Readable } from 'node:stream';
import { request } from 'undici';
import { mb, packBundle, shipsSource } from '../specs/bundle.ts';
import { ForgeError } from '../errors/index.ts';
import type { ServiceSpec } from '../specs/types.ts';
import { splitServerList } from '../net/failover.ts';
import { apiError, resolveTarget } from './client.ts';
import type { CliDeps } from './deps.ts';

const CHUNK = 256 * 1024;
const LIMIT_HEADER = 'x-forge-bundle-limit';

export interface UploadIo {
  /** Progress lines (stderr in --json mode, so stdout stays JSON). */
  progress(text: string): void;
}

/** Packs and uploads each source folder once; returns service name → digest. */
export async function uploadBundles(specs: readonly ServiceSpec[], deps: Pick<CliDeps, 'env'>, io: UploadIo): Promise<Record<string, string>> {
  const target = resolveTarget(deps);
  const auth: Record<string, string> = target.apiKey ? { 'x-api-key': target.apiKey } : {};
  const out: Record<string, string> = {};
  const packed = new Map<string, Awaited<ReturnType<typeof packBundle>>>();
  for (const spec of specs.filter(shipsSource)) {
    let bundle = packed.get(spec.sourceDir);
    if (!bundle) {
      bundle = await packBundle(spec.sourceDir);
      packed.set(spec.sourceDir, bundle);
    }
    out[spec.name] = bundle.digest;
    const path = `/api/v1/bundles/${bundle.digest}`;
    const short = `${bundle.digest.slice(0, 19)}…`;
    // Several replicas: the first that answers the HEAD takes the PUT as well (HEAD and PUT of a
    // content-addressed bundle are idempotent; see docs/operations.md on sharing the bundles dir).
    const { base, head } = await headOnFirstAnswering(splitServerList(target.url), path, auth);
    await head.body.dump();
    if (head.statusCode === 200) {
      io.progress(`${spec.name}: bundle ${short} (${bundle.files.length} files) already on the control plane\n`);
      continue;
    }
    if (head.statusCode !== 404) throw apiError(head.statusCode, undefined);
    const limit = Number(head.headers[LIMIT_HEADER]);
    if (Number.isFinite(limit) && bundle.gzip.length > limit) {
      throw new ForgeError('E_TOO_LARGE', `${spec.name}: the bundle of ${spec.sourceDir} is ${mb(bundle.gzip.length)}, over the control plane's ${mb(limit)} limit; list build output and data in .forgeignore`, {
        details: { bytes: bundle.gzip.length, limitBytes: limit },
      });
    }
    io.progress(`${spec.name}: uploading bundle ${short} (${bundle.files.length} files, ${mb(bundle.gzip.length)})`);
    const put = await send(base, 'PUT', path, { ...auth, 'content-type': 'application/gzip', 'content-length': String(bundle.gzip.length) }, withProgress(bundle.gzip, io));
    const text = await put.body.text();
    if (put.statusCode >= 300) {
      let parsed: unknown;
      try { parsed = JSON.parse(text); } catch { parsed = undefined; }
      throw apiError(put.statusCode, parsed);
    }
    io.progress(' done\n');
  }
  return out;
}

/** The bytes in chunks, printing 25/50/75/100% as they leave. */
function withProgress(data: Buffer, io: UploadIo): Readable {
  let printed = 0;
  return Readable.from((function* () {
    for (let offset = 0; offset < data.length; offset += CHUNK) {
      const end = Math.min(offset + CHUNK, data.length);
      const percent = Math.floor((end / data.length) * 4) * 25;
      if (percent > printed) {
        printed = percent;
        io.progress(` ${percent}%`);
      }
      yield data.subarray(offset, end);
    }
  })());
}

async function send(base: string, method: 'HEAD' | 'PUT', path: string, headers: Record<string, string>, body?: Readable) {
  try {
    return await request(`${base}${path}`, { method, headers, ...(body ? { body } : {}) });
  } catch (cause) {
    throw new ForgeError('E_PROVIDER', `cannot reach Forge at ${base}: ${(cause as Error).message}`, { cause });
  }
}

/** HEAD on each URL in order until one answers below 500; the last failure when none does. */
async function headOnFirstAnswering(bases: readonly string[], path: string, headers: Record<string, string>) {
  let failure: unknown;
  for (const [i, base] of bases.entries()) {
    try {
      const head = await send(base, 'HEAD', path, headers);
      if (head.statusCode < 500 || i === bases.length - 1) return { base, head };
      await head.body.dump();
    } catch (error) {
      failure = error;
    }
  }
  throw failure;
}
