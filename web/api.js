// The dashboard's only way to the control plane: the public HTTP API, each call
// carrying the API key the user pasted. Errors arrive as ApiError with the API's
// stable code, its message and its details.

import { createSseParser } from './sse.js';

export class ApiError extends Error {
  /**
   * @param {number} status HTTP status (0 when the API could not be reached)
   * @param {string} code the body's `error` field, e.g. E_NOT_FOUND
   * @param {string} message
   * @param {unknown} [details]
   */
  constructor(status, code, message, details) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

/** One line for a person: the message, then each `path: message` detail. */
export function describeError(error) {
  if (!(error instanceof ApiError)) return String(error?.message ?? error);
  const parts = Array.isArray(error.details)
    ? error.details
      .filter((d) => d && typeof d.message === 'string')
      .map((d) => (d.path ? `${d.path}: ${d.message}` : d.message))
    : [];
  const unique = parts.filter((p) => !error.message.includes(p));
  return `${error.message}${unique.length > 0 ? ` (${unique.join('; ')})` : ''} [${error.code}]`;
}

const SERVICES = '/api/compute/services';
const one = (idOrName) => `${SERVICES}/${encodeURIComponent(idOrName)}`;

/**
 * @param {string} key an `ik_…` API key
 * @param {typeof fetch} [fetchFn]
 */
export function createApi(key, fetchFn = (...args) => globalThis.fetch(...args)) {
  async function send(method, path, body, extraHeaders = {}, signal) {
    const headers = { 'x-api-key': key, accept: 'application/json', ...extraHeaders };
    const init = { method, headers, ...(signal ? { signal } : {}) };
    if (body instanceof Blob) {
      headers['content-type'] = 'application/gzip';
      init.body = body;
    } else if (body !== undefined) {
      headers['content-type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetchFn(path, init);
    } catch (cause) {
      if (cause?.name === 'AbortError') throw cause;
      throw new ApiError(0, 'E_NETWORK', `cannot reach the Forge API (${cause?.message ?? cause})`);
    }
    if (!response.ok) throw await errorOf(response, method, path);
    return response;
  }

  async function json(method, path, body) {
    const response = await send(method, path, body);
    const text = await response.text();
    return text === '' ? null : JSON.parse(text);
  }

  return {
    listServices: () => json('GET', SERVICES),
    getService: (name) => json('GET', one(name)),
    config: () => json('GET', '/api/compute/config'),
    deploy: (body) => json('POST', SERVICES, body),
    start: (name) => json('POST', `${one(name)}/start`),
    stop: (name) => json('POST', `${one(name)}/stop`),
    /** Rolls back to release `to` (a generation), or without it to the newest earlier good one. */
    rollback: (name, to) => json('POST', `${one(name)}/rollback`, to === undefined ? {} : { to }),
    releases: (name) => json('GET', `${one(name)}/releases`),
    agents: () => json('GET', '/api/v1/agents'),
    apply: (body) => json('POST', '/api/v1/apply', body),

    /** Whether the control plane holds `digest` already, and its upload limit in bytes (NaN when unsaid). */
    async bundleStatus(digest) {
      let response;
      try {
        response = await fetchFn(`/api/v1/bundles/${digest}`, { method: 'HEAD', headers: { 'x-api-key': key } });
      } catch (cause) {
        throw new ApiError(0, 'E_NETWORK', `cannot reach the Forge API (${cause?.message ?? cause})`);
      }
      if (response.status !== 200 && response.status !== 404) throw await errorOf(response, 'HEAD', '/api/v1/bundles');
      return { stored: response.status === 200, limitBytes: Number(response.headers.get('x-forge-bundle-limit') ?? NaN) };
    },
    /** Uploads a gzipped bundle; the control plane checks that its tar hashes to `digest`. */
    putBundle: (digest, gzip) => json('PUT', `/api/v1/bundles/${digest}`, gzip),
    remove: (name) => json('DELETE', one(name)),
    events: (name, limit = 50) => json('GET', `${one(name)}/events?limit=${limit}`),
    jobs: (name) => json('GET', `/api/v1/jobs?service=${encodeURIComponent(name)}`),

    /**
     * Follows a service's logs until the stream ends or `signal` aborts.
     * @param {string} name
     * @param {{ signal: AbortSignal, onLine(line: string): void, build?: boolean }} options
     */
    async followLogs(name, { signal, onLine, build = false }) {
      const query = build ? 'follow=1&build=latest' : 'follow=1';
      const response = await send('GET', `${one(name)}/logs?${query}`, undefined, { accept: 'text/event-stream' }, signal);
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let ended = false;
      const parser = createSseParser((event) => {
        if (event.event === 'end') ended = true;
        else onLine(event.data);
      });
      while (!ended) {
        const { done, value } = await reader.read();
        if (done) break;
        parser.push(decoder.decode(value, { stream: true }));
      }
      await reader.cancel().catch(() => {});
    },
  };
}

async function errorOf(response, method, path) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    // not JSON: a proxy's error page; the status says enough
  }
  const code = typeof body?.error === 'string' ? body.error : `HTTP_${response.status}`;
  const message = typeof body?.message === 'string' ? body.message : `${method} ${path} failed with HTTP ${response.status}`;
  return new ApiError(response.status, code, message, body?.details);
}
