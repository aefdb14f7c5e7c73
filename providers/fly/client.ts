// A thin Fly Machines API client over undici: only the calls the Fly provider
// makes. It owns transport concerns: Bearer auth, Fly error bodies → ForgeError,
// retries (429 always; 5xx and connection resets only where repeating is safe)
// with exponential backoff, full jitter and Retry-After, and a per-machine rate
// limit for mutations. Decisions about what to call live in the provider.

import { Pool, type Dispatcher } from 'undici';
import type {
  CreateMachineBody,
  FlyApp,
  FlyIpAssignment,
  FlyMachine,
  FlyMachineEvent,
  FlyOrgMachinesPage,
  UpdateMachineBody,
} from './api-types.ts';
import { flyHttpError, flyNetworkError, isFlyStatus } from './errors.ts';
import { FLY_MACHINE_RATE, TokenBuckets, backoffDelayMs, retryAfterMs, type BackoffPolicy, type RateLimit } from './retry.ts';

export const DEFAULT_FLY_API_HOSTNAME = 'https://api.machines.dev';

export interface FlyClientOptions {
  token: string;
  /** The organization slug (FLY_ORG). */
  org: string;
  baseUrl?: string;
  dispatcher?: Dispatcher;
  maxAttempts?: number;
  backoff?: BackoffPolicy;
  /** Longest Retry-After the client honours before falling back to its own cap. */
  maxRetryAfterMs?: number;
  machineRate?: RateLimit;
  random?: () => number;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
}

export interface FlyClientStats {
  requests: number;
  retries: number;
}

/** `idempotent`: repeat on 429, 5xx and resets. `unsafe`: repeat only on 429 (Fly refused it before acting). */
type RetryMode = 'idempotent' | 'unsafe';

interface CallOptions {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  mode?: RetryMode;
  /** Mutations of one machine share its rate-limit bucket. */
  machineId?: string;
}

const SAFE_NETWORK_CODES = new Set(['ECONNREFUSED', 'UND_ERR_CONNECT_TIMEOUT']);

export type FlyClient = ReturnType<typeof createFlyClient>;

export function createFlyClient(opts: FlyClientOptions) {
  const base = new URL(opts.baseUrl ?? DEFAULT_FLY_API_HOSTNAME);
  const prefix = base.pathname.replace(/\/+$/, '');
  const ownsDispatcher = opts.dispatcher === undefined;
  const dispatcher = opts.dispatcher ?? new Pool(base.origin, { connections: 32, headersTimeout: 90_000, bodyTimeout: 90_000 });
  const maxAttempts = opts.maxAttempts ?? 5;
  const backoff = opts.backoff ?? { baseMs: 200, maxMs: 10_000 };
  const maxRetryAfterMs = opts.maxRetryAfterMs ?? 30_000;
  const random = opts.random ?? Math.random;
  const now = opts.now ?? Date.now;
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const buckets = new TokenBuckets(opts.machineRate ?? FLY_MACHINE_RATE, now, sleep);
  const stats: FlyClientStats = { requests: 0, retries: 0 };
  const org = opts.org;
  const seg = encodeURIComponent;

  async function call<T>(method: Dispatcher.HttpMethod, path: string, o: CallOptions = {}): Promise<{ status: number; body: T | undefined }> {
    const mode = o.mode ?? (method === 'POST' ? 'unsafe' : 'idempotent');
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(o.query ?? {})) if (v !== undefined) qs.set(k, String(v));
    const fullPath = `${prefix}${path}${qs.size > 0 ? `?${qs}` : ''}`;
    const operation = `${method} ${path}`;
    const payload = o.body === undefined ? undefined : JSON.stringify(o.body);
    const headers: Record<string, string> = { authorization: `Bearer ${opts.token}`, accept: 'application/json' };
    if (payload !== undefined) headers['content-type'] = 'application/json';

    for (let attempt = 0; ; attempt++) {
      if (o.machineId && method !== 'GET') await buckets.take(o.machineId);
      stats.requests += 1;
      const last = attempt + 1 >= maxAttempts;
      let waitMs: number;
      try {
        const res = await dispatcher.request({ origin: base.origin, path: fullPath, method, headers, ...(payload === undefined ? {} : { body: payload }) });
        const text = await res.body.text();
        let parsed: unknown = undefined;
        if (text !== '') {
          try {
            parsed = JSON.parse(text) as unknown;
          } catch {
            parsed = text;
          }
        }
        if (res.statusCode < 300) return { status: res.statusCode, body: parsed as T | undefined };
        const retryable = res.statusCode === 429 || (res.statusCode >= 500 && mode === 'idempotent');
        if (!retryable || last) {
          throw flyHttpError(res.statusCode, parsed, operation, { attempts: attempt + 1, ...(res.statusCode >= 500 && mode === 'unsafe' ? { ambiguous: true } : {}) });
        }
        const header = res.headers['retry-after'];
        const hinted = retryAfterMs(Array.isArray(header) ? header[0] : header, now());
        waitMs = hinted === undefined ? backoffDelayMs(attempt, backoff, random) : Math.min(hinted, maxRetryAfterMs);
      } catch (err) {
        if ((err as { name?: string }).name === 'ForgeError') throw err;
        const code = (err as { code?: unknown }).code;
        const safe = mode === 'idempotent' || (typeof code === 'string' && SAFE_NETWORK_CODES.has(code));
        if (!safe || last) throw flyNetworkError(operation, err, !safe || mode === 'unsafe', attempt + 1);
        waitMs = backoffDelayMs(attempt, backoff, random);
      }
      stats.retries += 1;
      await sleep(waitMs);
    }
  }

  /** GETs that answer 404 for "not there" return undefined instead of throwing. */
  async function getOrUndefined<T>(path: string, query?: CallOptions['query']): Promise<T | undefined> {
    try {
      return (await call<T>('GET', path, query ? { query } : {})).body;
    } catch (err) {
      if (isFlyStatus(err, 404)) return undefined;
      throw err;
    }
  }

  async function ignore404(p: Promise<unknown>): Promise<void> {
    try {
      await p;
    } catch (err) {
      if (!isFlyStatus(err, 404)) throw err;
    }
  }

  const machinePath = (app: string, id: string) => `/v1/apps/${seg(app)}/machines/${seg(id)}`;

  return {
    org,
    stats,

    /** Creates the app; `created: false` when it already exists in this org. The key makes a retried create safe. */
    async createApp(name: string, idempotencyKey: string): Promise<{ created: boolean }> {
      try {
        await call('POST', '/v1/apps', { body: { name, org_slug: org, idempotency_key: idempotencyKey }, mode: 'idempotent' });
        return { created: true };
      } catch (err) {
        if (!isFlyStatus(err, 422, 409)) throw err;
        const existing = await getOrUndefined<FlyApp>(`/v1/apps/${seg(name)}`);
        if (existing?.organization?.slug === org) return { created: false };
        throw err;
      }
    },
    getApp: (name: string) => getOrUndefined<FlyApp>(`/v1/apps/${seg(name)}`),
    deleteApp: (name: string) => ignore404(call('DELETE', `/v1/apps/${seg(name)}`)),

    async listIps(app: string): Promise<FlyIpAssignment[]> {
      return (await call<{ ips?: FlyIpAssignment[] }>('GET', `/v1/apps/${seg(app)}/ip_assignments`)).body?.ips ?? [];
    },
    /** Not repeated on ambiguous failures: a blind repeat could allocate a second address. */
    async allocateIp(app: string, type: 'shared_v4' | 'v6'): Promise<FlyIpAssignment> {
      return (await call<FlyIpAssignment>('POST', `/v1/apps/${seg(app)}/ip_assignments`, { body: { type } })).body ?? {};
    },

    /** Unsafe to repeat blindly (a repeat may create a second machine): the provider looks before retrying. */
    async createMachine(app: string, body: CreateMachineBody): Promise<FlyMachine> {
      return (await call<FlyMachine>('POST', `/v1/apps/${seg(app)}/machines`, { body })).body!;
    },
    getMachine: (app: string, id: string) => getOrUndefined<FlyMachine>(machinePath(app, id)),
    async listMachines(app: string, metadata: Record<string, string> = {}, includeDeleted = false): Promise<FlyMachine[]> {
      const query: Record<string, string> = Object.fromEntries(Object.entries(metadata).map(([k, v]) => [`metadata.${k}`, v]));
      if (includeDeleted) query.include_deleted = 'true';
      // An app that does not exist has no machines.
      return (await getOrUndefined<FlyMachine[]>(`/v1/apps/${seg(app)}/machines`, query)) ?? [];
    },
    /** Safe to repeat: `current_version` turns a repeat of an applied update into a 409. */
    async updateMachine(app: string, id: string, body: UpdateMachineBody): Promise<FlyMachine> {
      return (await call<FlyMachine>('POST', machinePath(app, id), { body, mode: 'idempotent', machineId: id })).body!;
    },
    /**
     * Sets metadata keys without touching the config's version or restarting the
     * machine. `machineVersion` makes Fly refuse (412) if the machine changed since read.
     */
    updateMetadata: (app: string, id: string, metadata: Record<string, string>, machineVersion?: string) =>
      call('PATCH', `${machinePath(app, id)}/metadata`, {
        body: { metadata, ...(machineVersion ? { machine_version: machineVersion } : {}) },
        mode: 'idempotent',
        machineId: id,
      }).then(() => undefined),
    startMachine: (app: string, id: string) => call('POST', `${machinePath(app, id)}/start`, { mode: 'idempotent', machineId: id }).then(() => undefined),
    stopMachine: (app: string, id: string) => call('POST', `${machinePath(app, id)}/stop`, { mode: 'idempotent', machineId: id }).then(() => undefined),
    deleteMachine: (app: string, id: string, force: boolean) =>
      ignore404(call('DELETE', machinePath(app, id), { query: force ? { force: true } : {}, machineId: id })),
    async waitMachine(app: string, id: string, state: 'started' | 'stopped' | 'destroyed', timeoutSeconds: number, version?: string) {
      const query = { state, timeout: timeoutSeconds, version };
      return (await call<{ ok?: boolean; state?: string; version?: string }>('GET', `${machinePath(app, id)}/wait`, { query })).body ?? {};
    },
    async machineEvents(app: string, id: string, limit = 50): Promise<FlyMachineEvent[]> {
      return (await call<FlyMachineEvent[]>('GET', `${machinePath(app, id)}/events`, { query: { limit } })).body ?? [];
    },

    /** One page of the org-wide listing, oldest `updated_at` first. */
    async listOrgMachines(q: { updatedAfter?: string; cursor?: string; limit?: number; includeDeleted?: boolean }): Promise<FlyOrgMachinesPage> {
      const query = { updated_after: q.updatedAfter, cursor: q.cursor, limit: q.limit, include_deleted: q.includeDeleted };
      return (await call<FlyOrgMachinesPage>('GET', `/v1/orgs/${seg(org)}/machines`, { query })).body ?? {};
    },

    /** Sets values (never echoed in errors); returns the new secrets version and every secret name the app has. */
    async setSecrets(app: string, values: Record<string, string>): Promise<{ version?: number; names: string[] }> {
      const body = (await call<{ version?: number; secrets?: { name?: string }[] }>('POST', `/v1/apps/${seg(app)}/secrets`, { body: { values }, mode: 'idempotent' })).body;
      return { ...(body?.version === undefined ? {} : { version: body.version }), names: (body?.secrets ?? []).flatMap((s) => (s.name ? [s.name] : [])) };
    },
    async listSecretNames(app: string): Promise<string[]> {
      const body = (await call<{ secrets?: { name?: string }[] }>('GET', `/v1/apps/${seg(app)}/secrets`)).body;
      return (body?.secrets ?? []).flatMap((s) => (s.name ? [s.name] : []));
    },
    async deleteSecret(app: string, name: string): Promise<number | undefined> {
      try {
        return (await call<{ version?: number }>('DELETE', `/v1/apps/${seg(app)}/secrets/${seg(name)}`)).body?.version;
      } catch (err) {
        if (isFlyStatus(err, 404)) return undefined;
        throw err;
      }
    },

    async createDeployToken(app: string, expiry: string): Promise<string> {
      const body = (await call<{ token?: string }>('POST', `/v1/apps/${seg(app)}/deploy_token`, { body: { expiry }, mode: 'idempotent' })).body;
      if (!body?.token) throw flyHttpError(200, { error: 'deploy_token answered without a token' }, 'POST deploy_token');
      return body.token;
    },

    async close(): Promise<void> {
      if (ownsDispatcher) await dispatcher.close();
    },
  };
}
