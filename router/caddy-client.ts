// A thin undici client for Caddy's Admin API, scoped to the one HTTP server
// whose routes Forge owns. Every change is made at a specific config path or
// through `/id/<id>` so other servers, apps and routes are never rewritten
// (no `POST /load`). Caddy's `{"error": ...}` bodies become ForgeError E_PROVIDER.

import { Agent, request, type Dispatcher } from 'undici';
import { ForgeError } from '../errors/index.ts';
import { adminSocketPath } from './admin-address.ts';
import { forgeServerConfig, type CaddyServerConfig } from './caddy-config.ts';
import type { CaddyRoute } from './routes.ts';

export const DEFAULT_CADDY_ADMIN = 'http://127.0.0.1:2019';
export const DEFAULT_CADDY_SERVER = 'forge';
export const DEFAULT_HTTP_ADDR_DEVELOPMENT = '127.0.0.1:8088';
export const DEFAULT_HTTP_ADDR_PRODUCTION = ':80';
const DEFAULT_TIMEOUT_MS = 10_000;

// Caddy can drop its admin connections across a config change (seen on 2.6.2
// after a rejected change), so a kept-alive socket may be dead on the next
// call. Admin calls are few and on loopback: a fresh connection each time is
// cheap and never stale. We send no Origin header and the Host of the admin
// URL, which is what Caddy's admin host check allows for its listen address.
const noKeepAlive = new Agent({ pipelining: 0 });

export interface CaddyClientOptions {
  /** Admin API base URL, or `unix//path.sock` (admin-address.ts). Default DEFAULT_CADDY_ADMIN. */
  admin?: string;
  /** Name of the server under apps.http.servers that Forge owns. Default `forge`. */
  server?: string;
  /** The server config created when our server is absent (see forgeServerConfig). */
  serverTemplate?: CaddyServerConfig;
  timeoutMs?: number;
  dispatcher?: Dispatcher;
}

interface AdminResponse {
  status: number;
  json: unknown;
}

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export class CaddyClient {
  readonly admin: string;
  readonly server: string;
  readonly serverTemplate: CaddyServerConfig | undefined;
  private readonly timeoutMs: number;
  private readonly dispatcher: Dispatcher | undefined;
  /** The URL requests go to: the admin URL, or a placeholder origin when a socket carries them. */
  private readonly base: string;
  /**
   * Over a Unix socket Caddy's admin host check wants an empty Host (RFC 9112: no
   * host name to give); over TCP the admin URL's own Host, which undici sends.
   */
  private readonly hostHeader: Record<string, string>;

  constructor(options: CaddyClientOptions = {}) {
    this.admin = (options.admin ?? DEFAULT_CADDY_ADMIN).replace(/\/+$/, '');
    this.server = options.server ?? DEFAULT_CADDY_SERVER;
    this.serverTemplate = options.serverTemplate;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const socketPath = adminSocketPath(this.admin);
    this.base = socketPath === null ? this.admin : 'http://localhost';
    this.hostHeader = socketPath === null ? {} : { host: '' };
    this.dispatcher = options.dispatcher ?? (socketPath === null ? undefined : new Agent({ pipelining: 0, connect: { socketPath } }));
  }

  /** Config path of our server, e.g. `/config/apps/http/servers/forge`. */
  get serverPath(): string {
    return `/config/apps/http/servers/${encodeURIComponent(this.server)}`;
  }

  /** Our server's config, or null when it (or the whole http app) is absent. */
  async readServer(): Promise<CaddyServerConfig | null> {
    const res = await this.call('GET', this.serverPath, undefined, [200, 400]);
    if (res.status === 200) return isObject(res.json) ? (res.json as CaddyServerConfig) : null;
    // Caddy answers 400 when a parent (apps, http, servers) is missing. Tell
    // that apart from a real failure by reading the parent, not the message.
    const apps = await this.call('GET', '/config/apps', undefined, [200]);
    const servers = dig(apps.json, ['http', 'servers']);
    if (isObject(servers) && this.server in servers) throw adminError('GET', this.serverPath, res);
    return null;
  }

  /**
   * Creates our server when absent (PUT creates missing parents and never
   * overwrites an existing key). Returns true when it created it. `routes`
   * lets the first write carry every route at once.
   */
  async ensureServer(routes: CaddyRoute[] = [], template = this.serverTemplate): Promise<boolean> {
    if ((await this.readServer()) !== null) return false;
    if (template === undefined) {
      throw new ForgeError('E_PROVIDER', `caddy server '${this.server}' is absent at ${this.admin} and no listen address is configured to create it`);
    }
    const body: CaddyServerConfig = { ...template, routes: [...(template.routes ?? []), ...routes] };
    const res = await this.call('PUT', this.serverPath, body, [200, 409, 400, 500]);
    if (res.status === 200) return true;
    // Someone created it between our read and our write: that is fine.
    if ((await this.readServer()) !== null) return false;
    throw adminError('PUT', this.serverPath, res);
  }

  async getRoute(id: string): Promise<CaddyRoute | null> {
    const res = await this.call('GET', idPath(id), undefined, [200, 404]);
    return res.status === 200 && isObject(res.json) ? (res.json as CaddyRoute) : null;
  }

  /** Replaces the route with this @id in place (keeps its position). False when no such id exists. */
  async replaceRoute(id: string, route: CaddyRoute): Promise<boolean> {
    const res = await this.call('PATCH', idPath(id), route, [200, 404]);
    return res.status === 200;
  }

  /**
   * Replaces one value inside the object with this @id, e.g.
   * `patchAtId('forge-web', 'handle/0/upstreams', [...])` for an upstream flip.
   */
  async patchAtId(id: string, subpath: string, value: unknown): Promise<void> {
    await this.call('PATCH', `${idPath(id)}/${subpath.replace(/^\/+/, '')}`, value, [200]);
  }

  /** Deletes the object with this @id. False when it was already gone. */
  async deleteRoute(id: string): Promise<boolean> {
    const res = await this.call('DELETE', idPath(id), undefined, [200, 404]);
    return res.status === 200;
  }

  /** Appends routes to our server's route list in one change. */
  async appendRoutes(routes: CaddyRoute[]): Promise<void> {
    if (routes.length === 0) return;
    // A `/...` suffix makes Caddy append each element of the body array.
    await this.call('POST', `${this.serverPath}/routes/...`, routes, [200]);
  }

  /** Replaces our server's whole route list in one change (PATCH: the list must exist). */
  async replaceRoutes(routes: CaddyRoute[]): Promise<void> {
    await this.call('PATCH', `${this.serverPath}/routes`, routes, [200]);
  }

  /** Creates our server's route list when it has no `routes` key (PUT never overwrites an existing one). */
  async createRoutes(routes: CaddyRoute[]): Promise<void> {
    await this.call('PUT', `${this.serverPath}/routes`, routes, [200]);
  }

  /** Answers when the admin API is up; throws E_PROVIDER otherwise. */
  async ping(): Promise<void> {
    await this.call('GET', '/config/', undefined, [200]);
  }

  private async call(method: Method, path: string, body: unknown, accept: number[]): Promise<AdminResponse> {
    try {
      return await this.callOnce(method, path, body, accept);
    } catch (err) {
      // A read is safe to repeat once when the connection broke (caddy reloading its admin server).
      if (method !== 'GET' || !isConnectionDrop(err)) throw err;
      return this.callOnce(method, path, body, accept);
    }
  }

  private async callOnce(method: Method, path: string, body: unknown, accept: number[]): Promise<AdminResponse> {
    let status: number;
    let text: string;
    try {
      const res = await request(`${this.base}${path}`, {
        method,
        headers: body === undefined ? this.hostHeader : { ...this.hostHeader, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
        dispatcher: this.dispatcher ?? noKeepAlive,
      });
      status = res.statusCode;
      text = await res.body.text();
    } catch (err) {
      const code = errorCode(err);
      throw new ForgeError('E_PROVIDER', `caddy admin not reachable at ${this.admin}${code ? ` (${code})` : ''}`, {
        cause: err,
        details: { admin: this.admin, method, path },
      });
    }
    const parsed: AdminResponse = { status, json: parseJson(text) };
    if (!accept.includes(status)) throw adminError(method, path, parsed);
    return parsed;
  }
}

/** A client configured from FORGE_CADDY_ADMIN, FORGE_CADDY_SERVER, FORGE_HTTP_ADDR, FORGE_DOMAIN, FORGE_MODE. */
export function caddyClientFromEnv(env: NodeJS.ProcessEnv = process.env): CaddyClient {
  const production = env.FORGE_MODE === 'production';
  const httpAddr = env.FORGE_HTTP_ADDR || (production ? DEFAULT_HTTP_ADDR_PRODUCTION : DEFAULT_HTTP_ADDR_DEVELOPMENT);
  return new CaddyClient({
    admin: env.FORGE_CADDY_ADMIN || DEFAULT_CADDY_ADMIN,
    server: env.FORGE_CADDY_SERVER || DEFAULT_CADDY_SERVER,
    serverTemplate: forgeServerConfig({ httpAddr, domain: env.FORGE_DOMAIN || 'localhost' }),
  });
}

function idPath(id: string): string {
  return `/id/${encodeURIComponent(id)}`;
}

function adminError(method: string, path: string, res: AdminResponse): ForgeError {
  const caddyError = isObject(res.json) && typeof res.json.error === 'string' ? res.json.error : undefined;
  return new ForgeError('E_PROVIDER', `caddy admin ${method} ${path} failed (${res.status})${caddyError ? `: ${caddyError}` : ''}`, {
    details: { status: res.status, method, path, caddyError },
  });
}

function parseJson(text: string): unknown {
  if (text.trim() === '') return null;
  try {
    return JSON.parse(text);
  } catch {
    return { error: text.trim().slice(0, 500) };
  }
}

function errorCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth += 1) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}

function isConnectionDrop(err: unknown): boolean {
  const code = err instanceof ForgeError ? errorCode(err.cause) : undefined;
  return code === 'UND_ERR_SOCKET' || code === 'ECONNRESET';
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function dig(value: unknown, keys: string[]): unknown {
  let cur = value;
  for (const key of keys) cur = isObject(cur) ? cur[key] : undefined;
  return cur;
}
