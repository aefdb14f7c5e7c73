// The CLI's HTTP client for the Forge API. Where to talk and with which key:
// FORGE_URL / FORGE_API_KEY, else the profile `forge login` saved. API error
// bodies `{ error, message }` become ForgeErrors that say what to do next.
// Several replicas: the URL may be a comma-separated list; a request goes to the URL
// that worked last and, when that one is unreachable, silent, or answers 503 or a 5xx
// that is not Forge's (cli/reply-outcome.ts), to the next (net/failover.ts decides;
// cli/idempotent.ts says which requests may be repeated after a server may have seen them).
// Built on node:http(s), not undici: loading undici costs ~140 ms at every start
// of the command (bench/startup.ts), more than the whole rest of `forge list`.

import http, { type IncomingMessage } from 'node:http';
import { ForgeError, type ErrorCode } from '../errors/index.ts';
import type { CliDeps } from './deps.ts';
import { failoverStep, splitServerList, type AttemptOutcome } from '../net/failover.ts';
import { isIdempotent } from './idempotent.ts';
import { needsBody, replyOutcome } from './reply-outcome.ts';
import { readProfile } from './profile.ts';

export const DEFAULT_URL = 'http://127.0.0.1:8080';

export interface Target {
  /** A base URL, or the replicas' base URLs comma-separated. */
  url: string;
  apiKey?: string;
  /** How long a request may wait for its reply once sent (default 30 s); see REPLY_TIMEOUT_MS. */
  replyTimeoutMs?: number;
}

/** Env wins; a profile's key is used only with the URL it was saved for (a key never travels to another host). */
export function resolveTarget(deps: Pick<CliDeps, 'env'>): Target {
  const profile = readProfile(deps.env);
  const envUrl = deps.env.FORGE_URL?.trim() || undefined;
  const url = stripSlash(envUrl ?? profile?.url ?? DEFAULT_URL) || DEFAULT_URL;
  const envKey = deps.env.FORGE_API_KEY?.trim() || undefined;
  const profileKey = profile && stripSlash(profile.url) === url ? profile.apiKey : undefined;
  const apiKey = envKey ?? profileKey;
  return apiKey ? { url, apiKey } : { url };
}

/** One URL without its trailing slash; a list with each one's dropped (and blanks skipped). */
function stripSlash(url: string): string {
  return url.includes(',') ? splitServerList(url).join(',') : url.replace(/\/+$/, '');
}

/** The API's public codes → ours (the compute routes send InsForge's codes: api/compat.ts). */
function codeFrom(error: unknown, status: number): ErrorCode {
  if (error === 'COMPUTE_NOT_CONFIGURED') return 'E_COMPUTE_NOT_CONFIGURED';
  if (error === 'COMPUTE_REGION_CHANGE_NOT_SUPPORTED') return 'E_REGION_IMMUTABLE';
  if (typeof error === 'string' && /^E_[A-Z_]+$/.test(error)) return error as ErrorCode;
  if (status === 401) return 'E_UNAUTHORIZED';
  if (status === 404) return 'E_NOT_FOUND';
  if (status === 409) return 'E_CONFLICT';
  return status >= 400 && status < 500 ? 'E_BAD_REQUEST' : 'E_PROVIDER';
}

/** A reply's error body → a ForgeError whose message ends in the next step, where one helps. */
export function apiError(status: number, body: unknown): ForgeError {
  const { error, message, details } = (body ?? {}) as { error?: unknown; message?: unknown; details?: unknown };
  const code = codeFrom(error, status);
  const text = typeof message === 'string' && message !== '' ? message : `the API answered ${status}`;
  const options = details === undefined ? {} : { details };
  if (code === 'E_UNAUTHORIZED') return new ForgeError(code, 'unauthorized: set FORGE_API_KEY or run forge login', options);
  if (code === 'E_NOT_FOUND') return new ForgeError(code, `${text} (see forge list)`, options);
  return new ForgeError(code, text, options);
}

/** What to do about a provider that is not configured, by provider. */
export const PROVIDER_HINTS: Record<string, string> = {
  agent: 'start a worker with `forge agent` pointed at this control plane (or run `forge server` without --no-local-agent)',
  fly: 'set FLY_API_TOKEN and FLY_ORG where `forge server` runs, then restart it',
  cloud: 'set PROJECT_ID and CLOUD_API_HOST where `forge server` runs, then restart it',
};

/** Adds the provider's next step to E_COMPUTE_NOT_CONFIGURED when the caller knows which provider it asked for. */
export function withProviderHint(error: unknown, providers: readonly string[]): unknown {
  if (!(error instanceof ForgeError) || error.code !== 'E_COMPUTE_NOT_CONFIGURED') return error;
  const named = [...new Set(providers)].filter((p) => PROVIDER_HINTS[p]);
  if (named.length === 0) return error;
  const next = named.length === 1 ? `next step: ${PROVIDER_HINTS[named[0]!]}` : `next steps: ${named.map((p) => `${p}: ${PROVIDER_HINTS[p]}`).join('; ')}`;
  return new ForgeError(error.code, `${error.message}; ${next}`, { details: error.details, cause: error });
}

function unreachable(url: string, cause: unknown): ForgeError {
  const code = (cause as { code?: unknown }).code ?? (cause as { cause?: { code?: unknown } }).cause?.code;
  const why = typeof code === 'string' ? ` (${code})` : '';
  return new ForgeError('E_PROVIDER', `cannot reach Forge at ${url}${why}: start it with \`forge server\` or set FORGE_URL`, { cause });
}

function isAbort(error: unknown): boolean {
  return (error as { name?: unknown }).name === 'AbortError' || (error as { code?: unknown }).code === 'ABORT_ERR';
}

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** How long connecting may take before the API counts as unreachable. */
const CONNECT_TIMEOUT_MS = 5_000;
/**
 * How long a sent request waits for the reply's status line. A replica that took the connection
 * and then says nothing (paused, wedged) counts as not answering: an idempotent request goes to
 * the next URL, any other fails with E_TIMEOUT. Streams (log following, `forge run`'s output)
 * have none: their reply may rightly take long to begin.
 */
const REPLY_TIMEOUT_MS = 30_000;

function noReply(url: string, ms: number, cause: unknown): ForgeError {
  return new ForgeError('E_TIMEOUT', `no reply from Forge at ${url} within ${ms / 1000} s (it accepted the connection; it may have acted on the request)`, { cause });
}

async function readText(res: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export interface ForgeClient {
  /** The base URL requests go to now (of several, the one that worked last). */
  readonly url: string;
  /** JSON in, JSON out; a non-2xx reply throws the API's error as a ForgeError. */
  call<T = unknown>(method: HttpMethod, path: string, body?: unknown): Promise<T>;
  /** Plain-text GET. */
  text(path: string): Promise<string>;
  /** Server-sent events: each event's data, until the stream ends or `signal` aborts. */
  events(path: string, signal?: AbortSignal): AsyncIterable<string>;
  /** JSON in, a stream of newline-delimited JSON values out (`forge run`), until it ends or `signal` aborts. */
  lines(method: HttpMethod, path: string, body: unknown, signal?: AbortSignal): AsyncIterable<unknown>;
  close(): Promise<void>;
}

interface SendInit {
  body?: string;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** A streamed reply (no reply timeout). */
  stream?: boolean;
}

export function createClient(target: Target): ForgeClient {
  // node:https (and TLS) loads only for an https URL: it is a large part of start-up otherwise.
  // One transport per scheme, since a list of replica URLs may mix them.
  type Transport = Promise<{ lib: typeof http; agent: http.Agent }>;
  const transports = new Map<'http' | 'https', Transport>();
  const connect = (base: string): Transport => {
    const scheme = base.startsWith('https:') ? 'https' : 'http';
    let transport = transports.get(scheme);
    if (!transport) {
      transport = scheme === 'https'
        ? import('node:https').then((https) => ({ lib: https.default as unknown as typeof http, agent: new https.Agent({ keepAlive: true }) }))
        : Promise.resolve({ lib: http, agent: new http.Agent({ keepAlive: true }) });
      transports.set(scheme, transport);
    }
    return transport;
  };
  const headers = (extra: Record<string, string> = {}): Record<string, string> =>
    ({ ...(target.apiKey ? { 'x-api-key': target.apiKey } : {}), ...extra });

  const urls = splitServerList(target.url);
  if (urls.length === 0) urls.push(DEFAULT_URL);
  let current = 0;

  /** One attempt against one base URL; `connected` says whether the request may have reached it. */
  async function sendOnce(base: string, method: HttpMethod, path: string, init: SendInit): Promise<{ res?: IncomingMessage; error?: unknown; connected: boolean }> {
    const { lib, agent } = await connect(base);
    let connected = false;
    return new Promise((resolve) => {
      let req: http.ClientRequest;
      let replyTimer: NodeJS.Timeout | undefined;
      try {
        req = lib.request(`${base}${path}`, {
          method, agent, headers: headers(init.headers), ...(init.signal ? { signal: init.signal } : {}),
        }, (res) => {
          clearTimeout(replyTimer);
          resolve({ res, connected: true });
        });
      } catch (cause) {
        resolve({ error: unreachable(base, cause), connected: false });
        return;
      }
      const timer = setTimeout(() => req.destroy(Object.assign(new Error('connect timed out'), { code: 'ETIMEDOUT' })), CONNECT_TIMEOUT_MS);
      // Counted from when the request is fully sent, so a large upload is not cut short.
      const replyMs = init.stream ? null : target.replyTimeoutMs ?? REPLY_TIMEOUT_MS;
      if (replyMs !== null) {
        req.once('finish', () => {
          replyTimer = setTimeout(() => req.destroy(Object.assign(new Error('no reply'), { code: 'E_REPLY_TIMEOUT' })), replyMs);
        });
      }
      req.on('socket', (socket) => {
        // A kept-alive socket is connected already; a request on it may reach the server.
        if (!socket.connecting) {
          connected = true;
          clearTimeout(timer);
        } else {
          socket.once('connect', () => {
            connected = true;
            clearTimeout(timer);
          });
        }
      });
      req.on('close', () => {
        clearTimeout(timer);
        clearTimeout(replyTimer);
      });
      req.on('error', (cause) => resolve({
        error: isAbort(cause) ? cause : (cause as { code?: unknown }).code === 'E_REPLY_TIMEOUT' ? noReply(base, replyMs ?? 0, cause) : unreachable(base, cause),
        connected,
      }));
      req.end(init.body);
    });
  }

  /** Error bodies send() had to read to decide (cli/reply-outcome.ts): failed() takes them from here. */
  const readBodies = new WeakMap<IncomingMessage, string>();

  /** The request on the URL that worked last, then on the next while the outcome allows (each URL once). */
  async function send(method: HttpMethod, path: string, init: SendInit): Promise<IncomingMessage> {
    const idempotent = isIdempotent(method, path);
    for (let attempts = 1; ; attempts++) {
      const tried = current;
      const { res, error, connected } = await sendOnce(urls[tried]!, method, path, init);
      if (error !== undefined && (isAbort(error) || init.signal?.aborted)) throw error;
      let outcome: AttemptOutcome;
      if (res) {
        const status = res.statusCode ?? 0;
        let body: string | undefined;
        if (needsBody(status)) readBodies.set(res, (body = await readText(res).catch(() => '')));
        outcome = replyOutcome(status, body);
      } else outcome = connected ? 'no-reply' : 'not-sent';
      const step = failoverStep(urls.length, tried, outcome, attempts, idempotent);
      current = step.next;
      if (!step.retry) {
        if (res) return res;
        // Every URL tried and none reachable: name them all, not only the last.
        if (attempts > 1 && error instanceof ForgeError && !connected) {
          throw new ForgeError('E_PROVIDER', `cannot reach Forge at any of ${urls.join(', ')}: start it with \`forge server\` or set FORGE_URL`, { cause: error });
        }
        throw error;
      }
      res?.resume(); // this 5xx reply is dropped for the next replica's answer
    }
  }

  async function failed(res: IncomingMessage): Promise<ForgeError> {
    const text = readBodies.get(res) ?? await readText(res);
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    return apiError(res.statusCode ?? 0, parsed);
  }

  return {
    get url() {
      return urls[current]!;
    },
    async call<T>(method: HttpMethod, path: string, body?: unknown): Promise<T> {
      const res = await send(method, path, body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
      if ((res.statusCode ?? 0) >= 300) throw await failed(res);
      const text = await readText(res);
      return (text === '' ? undefined : JSON.parse(text)) as T;
    },
    async text(path) {
      const res = await send('GET', path, {});
      if ((res.statusCode ?? 0) >= 300) throw await failed(res);
      return readText(res);
    },
    async *events(path, signal) {
      const res = await send('GET', path, { headers: { accept: 'text/event-stream' }, stream: true, ...(signal ? { signal } : {}) });
      if ((res.statusCode ?? 0) >= 300) throw await failed(res);
      let buffer = '';
      let data: string[] = [];
      let name = 'message';
      try {
        for await (const chunk of res) {
          buffer += (chunk as Buffer).toString('utf8');
          let newline: number;
          while ((newline = buffer.indexOf('\n')) >= 0) {
            const line = buffer.slice(0, newline).replace(/\r$/, '');
            buffer = buffer.slice(newline + 1);
            if (line === '') {
              if (name === 'end') return;
              if (data.length > 0) yield data.join('\n');
              data = [];
              name = 'message';
            } else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
            else if (line.startsWith('event:')) name = line.slice(6).trim();
          }
        }
      } catch (error) {
        if (isAbort(error) || signal?.aborted) return;
        throw error;
      }
    },
    async *lines(method, path, body, signal) {
      const res = await send(method, path, { body: JSON.stringify(body), headers: { 'content-type': 'application/json' }, stream: true, ...(signal ? { signal } : {}) });
      if ((res.statusCode ?? 0) >= 300) throw await failed(res);
      let buffer = '';
      try {
        for await (const chunk of res) {
          buffer += (chunk as Buffer).toString('utf8');
          let newline: number;
          while ((newline = buffer.indexOf('\n')) >= 0) {
            const line = buffer.slice(0, newline);
            buffer = buffer.slice(newline + 1);
            if (line.trim() !== '') yield JSON.parse(line) as unknown;
          }
        }
      } catch (error) {
        if (isAbort(error) || signal?.aborted) return;
        throw error;
      }
    },
    close: async () => {
      for (const transport of transports.values()) (await transport).agent.destroy();
    },
  };
}

/** Runs `fn` with a client for the resolved target and closes its sockets afterwards. */
export async function withClient<T>(deps: CliDeps, fn: (client: ForgeClient) => Promise<T>): Promise<T> {
  const client = createClient(resolveTarget(deps));
  try {
    return await fn(client);
  } finally {
    await client.close().catch(() => undefined);
  }
}

/** `/api/compute/services/<name>` with the name escaped. */
export function servicePath(name: string, suffix = ''): string {
  return `/api/compute/services/${encodeURIComponent(name)}${suffix}`;
}
