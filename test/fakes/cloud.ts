// A remote Forge-compatible compute API for the cloud provider's tests: real
// state (services upserted by name, generations bumped on change, instances that
// settle after `settleMs`), the project and key check, queued faults, a request log.

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHash, randomBytes } from 'node:crypto';

export interface FakeCloudService {
  id: string;
  name: string;
  image: string;
  port: number;
  cpu: string;
  memory: number;
  region: string;
  replicas: number;
  envVars: Record<string, string>;
  /** The owner label, kept from create (a Forge remote's `source`). */
  source: string;
  /** The provider the upsert named, if any. */
  provider?: string;
  generation: number;
  desiredState: 'running' | 'stopped';
  /** Digest of the last upsert body: the same body again changes nothing. */
  digest: string;
  changedAt: number;
  fresh: boolean;
}

export interface CloudRequest {
  method: string;
  path: string;
  body: string;
  status?: number;
}

export interface CloudFake {
  url: string;
  projectId: string;
  apiKey: string;
  services: Map<string, FakeCloudService>;
  requests: CloudRequest[];
  /** The next requests answer these statuses (before any effect). */
  failNext(...statuses: number[]): void;
  close(): Promise<void>;
}

const BASE = '/api/compute/services';

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function startCloudFake(opts: { projectId?: string; apiKey?: string; settleMs?: number; now?: () => number } = {}): Promise<CloudFake> {
  const projectId = opts.projectId ?? 'proj-1';
  const apiKey = opts.apiKey ?? `ik_${randomBytes(12).toString('hex')}`;
  const settleMs = opts.settleMs ?? 0;
  const now = opts.now ?? Date.now;
  const services = new Map<string, FakeCloudService>();
  const requests: CloudRequest[] = [];
  const queued: number[] = [];

  const view = (s: FakeCloudService) => {
    const settled = now() >= s.changedAt + settleMs;
    const running = s.desiredState === 'running';
    const status = !settled ? (s.fresh ? 'creating' : 'deploying') : running ? 'running' : 'stopped';
    const instances = !settled && s.fresh
      ? []
      : Array.from({ length: s.replicas }, (_, i) => ({
          id: `${s.id}-i${i}`,
          region: s.region,
          port: s.port,
          url: null,
          state: !settled ? 'starting' : running ? 'running' : 'stopped',
          health: settled && running ? 'healthy' : 'unknown',
        }));
    return {
      id: s.id, name: s.name, provider: s.provider ?? 'fly', status, generation: s.generation, observedGeneration: settled ? s.generation : s.generation - 1,
      url: `https://${s.name}.${projectId}.example.app`, conditions: [], envKeys: Object.keys(s.envVars).sort(), image: s.image, port: s.port,
      cpu: s.cpu, memory: s.memory, region: s.region, replicas: s.replicas, source: s.source, desiredState: s.desiredState, instances,
      createdAt: '', updatedAt: '',
    };
  };

  const find = (idOrName: string) => services.get(idOrName) ?? [...services.values()].find((s) => s.id === idOrName);

  function upsert(body: Record<string, unknown>): { status: number; body: unknown } {
    const name = body['name'];
    const image = body['image'];
    if (typeof name !== 'string' || !/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(name)) return { status: 400, body: { error: 'E_SPEC_INVALID', message: 'name must be a DNS label' } };
    if (typeof image !== 'string' || image === '') return { status: 400, body: { error: 'E_SPEC_INVALID', message: 'image is required' } };
    const envVars = (body['envVars'] ?? {}) as Record<string, string>;
    const fields = {
      image,
      port: typeof body['port'] === 'number' ? body['port'] : 8080,
      cpu: typeof body['cpu'] === 'string' ? body['cpu'] : 'shared-1x',
      memory: typeof body['memory'] === 'number' ? body['memory'] : 512,
      region: typeof body['region'] === 'string' ? body['region'] : 'iad',
      replicas: typeof body['replicas'] === 'number' ? body['replicas'] : 1,
      envVars,
    };
    const digest = createHash('sha256').update(JSON.stringify(fields)).digest('hex');
    const prev = services.get(name);
    const owner = typeof body['source'] === 'string' ? body['source'] : undefined;
    // As a Forge remote does: a writer naming an owner changes only what it owns.
    if (prev && owner !== undefined && prev.source !== owner) {
      return { status: 409, body: { error: 'E_CONFLICT', message: `service ${name} belongs to ${prev.source}, not to ${owner}; it was not changed` } };
    }
    const provider = typeof body['provider'] === 'string' ? { provider: body['provider'] } : {};
    if (prev && prev.digest === digest) return { status: 200, body: view(prev) };
    const s: FakeCloudService = prev
      ? { ...prev, ...fields, digest, generation: prev.generation + 1, changedAt: now(), fresh: false }
      : { id: randomBytes(6).toString('hex'), name, ...fields, ...provider, source: owner ?? 'api', digest, generation: 1, desiredState: 'running', changedAt: now(), fresh: true };
    services.set(name, s);
    return { status: prev ? 200 : 201, body: view(s) };
  }

  function route(method: string, path: string, body: unknown): { status: number; body?: unknown } {
    if (path === BASE && method === 'GET') return { status: 200, body: [...services.values()].map(view) };
    if (path === BASE && method === 'POST') return upsert((body ?? {}) as Record<string, unknown>);
    const rest = path.startsWith(`${BASE}/`) ? path.slice(BASE.length + 1).split('/') : [];
    const s = rest[0] ? find(decodeURIComponent(rest[0])) : undefined;
    if (!s) return { status: 404, body: { error: 'E_NOT_FOUND', message: `no service ${rest[0] ?? ''}` } };
    if (rest.length === 1 && method === 'DELETE') {
      services.delete(s.name);
      return { status: 202, body: { message: 'Service deleted' } };
    }
    if (rest.length === 2 && method === 'POST' && (rest[1] === 'start' || rest[1] === 'stop')) {
      const want = rest[1] === 'start' ? 'running' : 'stopped';
      if (s.desiredState !== want) services.set(s.name, { ...s, desiredState: want, changedAt: now(), fresh: false });
      return { status: 200, body: view(services.get(s.name)!) };
    }
    return { status: 404, body: { error: 'E_NOT_FOUND', message: `no route ${method} ${path}` } };
  }

  const send = (res: ServerResponse, entry: CloudRequest, status: number, body?: unknown) => {
    entry.status = status;
    const payload = body === undefined ? '' : JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) });
    res.end(payload);
  };

  const server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://fake');
      const raw = await readBody(req);
      const entry: CloudRequest = { method: req.method ?? 'GET', path: url.pathname, body: raw };
      requests.push(entry);
      if (req.headers['x-api-key'] !== apiKey || req.headers['x-project-id'] !== projectId) {
        return send(res, entry, 401, { error: 'E_UNAUTHORIZED', message: 'authentication required' });
      }
      const fault = queued.shift();
      if (fault !== undefined) return send(res, entry, fault, { error: fault === 429 ? 'E_RATE_LIMITED' : 'E_INTERNAL', message: 'injected' });
      let body: unknown;
      try {
        body = raw === '' ? undefined : (JSON.parse(raw) as unknown);
      } catch {
        return send(res, entry, 400, { error: 'E_BAD_REQUEST', message: 'body is not JSON' });
      }
      const out = route(entry.method, entry.path, body);
      send(res, entry, out.status, out.body);
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    projectId,
    apiKey,
    services,
    requests,
    failNext(...statuses) {
      queued.push(...statuses);
    },
    close() {
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
