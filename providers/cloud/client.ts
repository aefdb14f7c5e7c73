// A thin client for a remote Forge-compatible compute API (`/api/compute/services`):
// base CLOUD_API_HOST, the project in `x-project-id`, the key in `x-api-key`.
// Remote errors (`{ error: CODE, message }`) become ForgeErrors; 429, 5xx and
// connection failures are retried with capped exponential backoff and jitter
// (every call here is safe to repeat: upserts are by name, start/stop/delete
// are idempotent). Decisions about what to call live in the provider.

import { Pool, type Dispatcher } from 'undici';
import { ForgeError, type ErrorCode } from '../../errors/index.ts';
import type { RemoteService } from './remote.ts';

export interface CloudClientOptions {
  /** CLOUD_API_HOST: `https://host` or a bare `host[:port]` (https assumed). */
  host: string;
  projectId: string;
  apiKey?: string;
  dispatcher?: Dispatcher;
  maxAttempts?: number;
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  random?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

export interface UpsertBody {
  name: string;
  image: string;
  port: number;
  cpu: string;
  memory: number;
  region: string;
  replicas: number;
  envVars: Record<string, string>;
  /** The owner label (`forge:<control-plane id>`): the remote keeps it as the service's source. */
  source: string;
  /** The remote provider to run on; left out, the remote picks one that runs images. */
  provider?: string;
}

export interface CloudClientStats {
  requests: number;
  retries: number;
}

const PASS_THROUGH_CODES = new Set<ErrorCode>(['E_SPEC_INVALID', 'E_BAD_REQUEST', 'E_CONFLICT', 'E_REGION_IMMUTABLE', 'E_COMPUTE_NOT_CONFIGURED', 'E_NOT_FOUND']);

export function cloudBaseUrl(host: string): URL {
  const withScheme = /^https?:\/\//i.test(host) ? host : `https://${host}`;
  return new URL(withScheme);
}

/** A remote failure as a ForgeError: auth failures are terminal; the remote's own spec verdicts keep their code. */
export function cloudHttpError(status: number, body: unknown, operation: string): ForgeError {
  const b = body !== null && typeof body === 'object' ? (body as Record<string, unknown>) : {};
  const remoteCode = typeof b['error'] === 'string' ? b['error'] : undefined;
  const remoteMessage = typeof b['message'] === 'string' ? b['message'].slice(0, 500) : undefined;
  const details = { status, ...(remoteCode ? { remoteCode } : {}) };
  if (status === 401 || status === 403) {
    return new ForgeError('E_UNAUTHORIZED', `the cloud compute API refused the credentials (${status}) for ${operation}: check the API key and PROJECT_ID`, { details, terminal: true });
  }
  const why = remoteMessage ?? remoteCode ?? `HTTP ${status}`;
  const code = remoteCode && PASS_THROUGH_CODES.has(remoteCode as ErrorCode) ? (remoteCode as ErrorCode) : 'E_PROVIDER';
  return new ForgeError(code, `cloud compute API ${operation} failed (${status}): ${why}`, { details });
}

export type CloudClient = ReturnType<typeof createCloudClient>;

export function createCloudClient(opts: CloudClientOptions) {
  const base = cloudBaseUrl(opts.host);
  const prefix = base.pathname.replace(/\/+$/, '');
  const ownsDispatcher = opts.dispatcher === undefined;
  const dispatcher = opts.dispatcher ?? new Pool(base.origin, { connections: 16, headersTimeout: 60_000, bodyTimeout: 60_000 });
  const maxAttempts = opts.maxAttempts ?? 4;
  const baseMs = opts.backoffBaseMs ?? 200;
  const maxMs = opts.backoffMaxMs ?? 5_000;
  const random = opts.random ?? Math.random;
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const stats: CloudClientStats = { requests: 0, retries: 0 };
  const headers: Record<string, string> = { accept: 'application/json', 'x-project-id': opts.projectId };
  if (opts.apiKey) headers['x-api-key'] = opts.apiKey;
  const services = `${prefix}/api/compute/services`;

  async function call<T>(method: Dispatcher.HttpMethod, path: string, body?: unknown): Promise<{ status: number; body: T | undefined }> {
    const operation = `${method} ${path.slice(prefix.length)}`;
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const h = payload === undefined ? headers : { ...headers, 'content-type': 'application/json' };
    for (let attempt = 1; ; attempt++) {
      stats.requests += 1;
      const last = attempt >= maxAttempts;
      try {
        const res = await dispatcher.request({ origin: base.origin, path, method, headers: h, ...(payload === undefined ? {} : { body: payload }) });
        const text = await res.body.text();
        let parsed: unknown;
        try {
          parsed = text === '' ? undefined : (JSON.parse(text) as unknown);
        } catch {
          parsed = undefined;
        }
        if (res.statusCode < 300) return { status: res.statusCode, body: parsed as T | undefined };
        if (res.statusCode === 404) return { status: 404, body: undefined };
        const retryable = res.statusCode === 429 || res.statusCode >= 500;
        if (!retryable || last) throw cloudHttpError(res.statusCode, parsed, operation);
      } catch (err) {
        if (err instanceof ForgeError) throw err;
        if (last) {
          const code = (err as { code?: unknown }).code;
          throw new ForgeError('E_PROVIDER', `cloud compute API ${operation} failed: ${typeof code === 'string' ? code : String(err)}`, { cause: err, details: { status: 0 } });
        }
      }
      stats.retries += 1;
      await sleep(Math.floor(random() * Math.min(maxMs, baseMs * 2 ** (attempt - 1))));
    }
  }

  const one = (id: string) => `${services}/${encodeURIComponent(id)}`;

  return {
    stats,
    async list(): Promise<RemoteService[]> {
      // A bare array (InsForge Compute, Forge API v2); `{ services }` from a Forge before v2.
      const res = await call<RemoteService[] | { services?: RemoteService[] }>('GET', services);
      return Array.isArray(res.body) ? res.body : (res.body?.services ?? []);
    },
    /** Upsert by name; returns the service as the remote now sees it. */
    async upsert(body: UpsertBody): Promise<RemoteService> {
      const res = await call<RemoteService>('POST', services, body);
      if (!res.body || typeof res.body.name !== 'string') throw new ForgeError('E_PROVIDER', `cloud compute API answered the upsert of ${body.name} without a service`);
      return res.body;
    },
    /** undefined when the remote no longer has the service. */
    async setRunning(id: string, running: boolean): Promise<RemoteService | undefined> {
      return (await call<RemoteService>('POST', `${one(id)}/${running ? 'start' : 'stop'}`)).body;
    },
    /** True when it was there; deleting a missing service is not an error. */
    async remove(id: string): Promise<boolean> {
      return (await call('DELETE', one(id))).status !== 404;
    },
    async close(): Promise<void> {
      if (ownsDispatcher) await dispatcher.close();
    },
  };
}
