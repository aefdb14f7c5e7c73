// Request handlers of the Fly fake: the subset of the Machines API Forge uses,
// answering in Fly's shapes (errors as `{ error, status? }`).

import { randomBytes } from 'node:crypto';
import { RUNNING_STATES, type FakeApp, type FakeMachine, type FlyWorld, type JsonObject } from './fly-world.ts';
import { appView, ipView, machineView, orgMachineView } from './fly-views.ts';

export interface FakeRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  body: unknown;
}

export interface FakeResponse {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface RouteContext {
  world: FlyWorld;
  orgs: ReadonlySet<string>;
  sleep: (ms: number) => Promise<void>;
}

const fail = (status: number, error: string, code?: string): FakeResponse => ({ status, body: code ? { error, status: code } : { error } });
const ok = (body?: unknown, status = 200): FakeResponse => (body === undefined ? { status } : { status, body });
const obj = (value: unknown): JsonObject => (value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as JsonObject) : {});

interface Cursor {
  u: number;
  id: string;
}

const encodeCursor = (c: Cursor): string => Buffer.from(JSON.stringify(c)).toString('base64url');
function decodeCursor(raw: string): Cursor | undefined {
  try {
    const parsed = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as Cursor;
    return typeof parsed.u === 'number' && typeof parsed.id === 'string' ? parsed : undefined;
  } catch {
    return undefined;
  }
}

const byUpdated = (a: FakeMachine, b: FakeMachine): number => a.updatedAt - b.updatedAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

function listOrgMachines(ctx: RouteContext, org: string, q: URLSearchParams): FakeResponse {
  if (!ctx.orgs.has(org)) return fail(404, `organization ${org} not found`);
  const includeDeleted = q.get('include_deleted') === 'true';
  const summary = q.get('summary') === 'true';
  const limit = Math.min(Math.max(Number(q.get('limit') ?? 1000), 1), 1000);
  let all = [...ctx.world.apps.values()].filter((a) => a.org === org).flatMap((a) => ctx.world.machinesOf(a.name, includeDeleted));
  // Machines of deleted apps stay visible as destroyed when asked for.
  if (includeDeleted) {
    for (const m of ctx.world.machines.values()) if (!ctx.world.apps.has(m.app) && m.state === 'destroyed') all.push(m);
  }
  all.sort(byUpdated);
  const rawCursor = q.get('cursor');
  if (rawCursor) {
    const c = decodeCursor(rawCursor);
    if (!c) return fail(400, 'invalid cursor');
    all = all.filter((m) => m.updatedAt > c.u || (m.updatedAt === c.u && m.id > c.id));
  } else if (q.get('updated_after')) {
    const after = Date.parse(q.get('updated_after')!);
    if (Number.isNaN(after)) return fail(400, 'updated_after must be RFC 3339');
    all = all.filter((m) => m.updatedAt > after);
  }
  const page = all.slice(0, limit);
  const last = page[page.length - 1];
  const body: JsonObject = { machines: page.map((m) => orgMachineView(m, summary)) };
  if (last) {
    body['last_machine_id'] = last.id;
    body['last_updated_at'] = new Date(last.updatedAt).toISOString();
  }
  if (last && all.length > page.length) body['next_cursor'] = encodeCursor({ u: last.updatedAt, id: last.id });
  return ok(body);
}

function createApp(ctx: RouteContext, body: JsonObject): FakeResponse {
  const name = typeof body['name'] === 'string' ? body['name'] : '';
  const org = typeof body['org_slug'] === 'string' ? body['org_slug'] : '';
  const key = typeof body['idempotency_key'] === 'string' ? body['idempotency_key'] : undefined;
  if (!ctx.orgs.has(org)) return fail(404, `organization ${org || '(none)'} not found`);
  if (key !== undefined) {
    const earlier = [...ctx.world.apps.values()].find((a) => a.idempotencyKey === key && a.org === org);
    if (earlier) {
      if (name && name !== earlier.name) return fail(422, 'idempotency_key was used for a different app name');
      return ok({ id: earlier.id, created_at: earlier.createdAt }, 201);
    }
  }
  if (!/^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/.test(name)) return fail(400, `invalid app name ${JSON.stringify(name)}`);
  if (ctx.world.apps.has(name)) return fail(422, `app name ${name} is already taken`, 'name_taken');
  const app = ctx.world.createApp(name, org, key);
  return ok({ id: app.id, created_at: app.createdAt }, 201);
}

async function waitFor(ctx: RouteContext, m: FakeMachine, q: URLSearchParams): Promise<FakeResponse> {
  const wanted = (q.get('state') ?? 'started').split(',');
  const timeoutMs = Number(q.get('timeout') ?? 60) * 1000;
  const deadline = ctx.world.now() + timeoutMs;
  const step = Math.max(1, Math.min(20, ctx.world.transitionMs));
  for (;;) {
    ctx.world.settle(m);
    const settled = m.plan.length === 0 && wanted.includes('settled');
    if (wanted.includes(m.state) || settled) return ok({ ok: true, state: m.state, version: m.version, event_id: m.events[0]?.id ?? '' });
    if (m.state === 'destroyed') return fail(400, `machine ${m.id} was destroyed while waiting`);
    if (ctx.world.now() >= deadline) return fail(408, `deadline_exceeded: machine did not reach ${wanted.join(',')}`);
    await ctx.sleep(step);
  }
}

function machineRoutes(ctx: RouteContext, app: FakeApp, rest: string[], req: FakeRequest): FakeResponse | Promise<FakeResponse> {
  const { world } = ctx;
  const body = obj(req.body);
  if (rest.length === 0) {
    if (req.method === 'GET') {
      const filters = [...req.query.entries()].filter(([k]) => k.startsWith('metadata.')).map(([k, v]) => [k.slice(9), v] as const);
      const list = world.machinesOf(app.name, req.query.get('include_deleted') === 'true').filter((m) => {
        const meta = obj(m.config['metadata']);
        return filters.every(([k, v]) => meta[k] === v);
      });
      return ok(list.map((m) => machineView(m, req.query.get('summary') === 'true')));
    }
    const config = obj(body['config']);
    if (typeof config['image'] !== 'string' || config['image'] === '') return fail(400, 'config.image is required');
    const minSecrets = body['min_secrets_version'];
    if (typeof minSecrets === 'number' && minSecrets > app.secretsVersion) return fail(400, `secrets version ${minSecrets} is not available yet`);
    const region = typeof body['region'] === 'string' && body['region'] ? body['region'] : 'iad';
    const m = world.createMachine(app.name, region, config, body['skip_launch'] !== true, typeof body['name'] === 'string' ? body['name'] : undefined);
    return ok(machineView(m));
  }
  const m = world.machine(app.name, rest[0]!);
  const action = `${req.method} ${rest.slice(1).join('/')}`;
  // A destroyed machine can still be waited on (state=destroyed), nothing else.
  if (!m || (m.state === 'destroyed' && action !== 'GET wait')) return fail(404, `machine ${rest[0]} not found`);
  switch (action) {
    case 'GET ':
      return ok(machineView(m));
    case 'POST ': {
      const current = body['current_version'];
      if (typeof current === 'string' && current !== m.version) return fail(409, `machine ${m.id} version ${current} is stale, current is ${m.version}`);
      if (typeof body['region'] === 'string' && body['region'] && body['region'] !== m.region) return fail(400, 'a machine cannot change region');
      const config = obj(body['config']);
      if (typeof config['image'] !== 'string' || config['image'] === '') return fail(400, 'config.image is required');
      const minSecrets = body['min_secrets_version'];
      if (typeof minSecrets === 'number' && minSecrets > app.secretsVersion) return fail(400, `secrets version ${minSecrets} is not available yet`);
      world.updateMachine(m, config, body['skip_launch'] !== true);
      return ok(machineView(m));
    }
    case 'DELETE ':
      if (RUNNING_STATES.has(m.state) && req.query.get('force') !== 'true') {
        return fail(412, `failed_precondition: unable to destroy machine ${m.id}, not currently stopped, suspended or failed`);
      }
      if (m.state !== 'destroying') world.destroyMachine(m);
      return ok();
    case 'PATCH metadata':
    case 'PUT metadata': {
      const expected = body['machine_version'];
      if (typeof expected === 'string' && expected !== m.version) return fail(412, `machine ${m.id} version ${expected} is stale, current is ${m.version}`);
      const changes = obj(body['metadata']);
      if (Object.values(changes).some((v) => v !== null && typeof v !== 'string')) return fail(400, 'metadata values must be strings');
      world.setMetadata(m, changes as Record<string, string | null>);
      return ok(undefined, 204);
    }
    case 'GET metadata':
      return ok(structuredClone(obj(m.config['metadata'])));
    case 'POST start':
      if (m.state === 'destroying') return fail(412, `machine ${m.id} is being destroyed`);
      if (m.state !== 'started' && m.state !== 'starting') world.startMachine(m);
      return ok();
    case 'POST stop':
      if (m.state === 'destroying') return fail(412, `machine ${m.id} is being destroyed`);
      if (m.state !== 'stopped' && m.state !== 'stopping') world.stopMachine(m);
      return ok();
    case 'GET wait':
      return waitFor(ctx, m, req.query);
    case 'GET events': {
      const limit = Math.min(Number(req.query.get('limit') ?? 20), 50);
      return ok(m.events.slice(0, limit));
    }
    default:
      return fail(404, `no route ${req.method} ${req.path}`);
  }
}

function appRoutes(ctx: RouteContext, app: FakeApp, rest: string[], req: FakeRequest): FakeResponse | Promise<FakeResponse> {
  const { world } = ctx;
  const body = obj(req.body);
  const head = rest[0] ?? '';
  if (head === '' && req.method === 'GET') return ok(appView(app, world.machinesOf(app.name).length));
  if (head === '' && req.method === 'DELETE') {
    world.deleteApp(app.name);
    return ok(undefined, 202);
  }
  if (head === 'machines') return machineRoutes(ctx, app, rest.slice(1), req);
  if (head === 'ip_assignments') {
    if (req.method === 'GET') return ok({ ips: app.ips.map(ipView) });
    if (req.method === 'DELETE') {
      const before = app.ips.length;
      app.ips = app.ips.filter((ip) => ip.ip !== decodeURIComponent(rest[1] ?? ''));
      return app.ips.length < before ? ok(undefined, 204) : fail(404, 'ip not found');
    }
    const type = typeof body['type'] === 'string' ? body['type'] : 'shared_v4';
    const ip = world.allocateIp(app, type, typeof body['region'] === 'string' ? body['region'] : 'global');
    return ok(ip ? ipView(ip) : { created_at: new Date(world.now()).toISOString(), shared: type === 'shared_v4' });
  }
  if (head === 'secrets') {
    const list = () => [...app.secrets.entries()].map(([name, s]) => ({ name, digest: s.digest, created_at: new Date(s.createdAt).toISOString(), updated_at: new Date(s.updatedAt).toISOString() }));
    if (rest.length === 1 && req.method === 'GET') return ok({ secrets: list() });
    if (rest.length === 1 && req.method === 'POST') {
      const values = obj(body['values']);
      if (Object.values(values).some((v) => typeof v !== 'string')) return fail(400, 'secret values must be strings');
      const version = world.setSecrets(app, values as Record<string, string>);
      return ok({ version, secrets: list() });
    }
    if (rest.length === 2 && req.method === 'DELETE') {
      const name = decodeURIComponent(rest[1]!);
      if (!app.secrets.delete(name)) return fail(404, `secret ${name} not found`);
      app.secretsVersion += 1;
      return ok({ version: app.secretsVersion });
    }
  }
  if (head === 'deploy_token' && req.method === 'POST') {
    const token = `FlyV1 fm2_${randomBytes(24).toString('base64url')}`;
    app.deployTokens.push({ token, expiry: typeof body['expiry'] === 'string' ? body['expiry'] : '' });
    return ok({ token });
  }
  return fail(404, `no route ${req.method} ${req.path}`);
}

export function route(ctx: RouteContext, req: FakeRequest): FakeResponse | Promise<FakeResponse> {
  const parts = req.path.split('/').filter(Boolean);
  if (parts[0] !== 'v1') return fail(404, `no route ${req.path}`);
  if (parts[1] === 'orgs' && parts[3] === 'machines' && parts.length === 4 && req.method === 'GET') return listOrgMachines(ctx, parts[2]!, req.query);
  if (parts[1] !== 'apps') return fail(404, `no route ${req.path}`);
  if (parts.length === 2 && req.method === 'POST') return createApp(ctx, obj(req.body));
  const app = ctx.world.apps.get(parts[2] ?? '');
  if (!app) return fail(404, `app ${parts[2]} not found`);
  return appRoutes(ctx, app, parts.slice(3), req);
}
