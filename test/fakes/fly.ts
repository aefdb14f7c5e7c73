// A Fly Machines API fake for tests and benches: real state (fly-world.ts), Fly's
// routes (fly-routes.ts), Bearer auth, fault injection (latency, 429 with
// Retry-After, 500, connection resets, before or after the effect), a request log,
// and every request and response checked against Fly's OpenAPI contract.

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { createContractValidator, type ContractValidator } from './openapi-validator.ts';
import { FlyWorld, type FakeMachine, type JsonObject } from './fly-world.ts';
import { route, type FakeResponse } from './fly-routes.ts';

export type FaultKind = '429' | '500' | 'reset';

export interface FaultConfig {
  /** Probability (0..1) that a request gets one of `kinds`. */
  rate: number;
  /** Added to every request. */
  latencyMs: number;
  kinds: FaultKind[];
}

export interface LoggedRequest {
  method: string;
  path: string;
  query: string;
  /** Raw request body, as sent (tests search it for leaked secrets). */
  body: string;
  status?: number;
  fault?: string;
}

export interface FlyFakeOptions {
  token?: string;
  org?: string;
  /** Time per state step (created→starting→started, ...). Default 5 ms. */
  transitionMs?: number;
  faults?: Partial<FaultConfig>;
  /** Seed for the fault dice, so a faulty run is reproducible. */
  seed?: number;
  retryAfterSeconds?: number;
  validator?: ContractValidator;
}

export interface FlyFake {
  url: string;
  token: string;
  org: string;
  world: FlyWorld;
  requests: LoggedRequest[];
  violations: string[];
  faultsInjected: number;
  setFaults(faults: Partial<FaultConfig>): void;
  /** The next requests fail with these faults, in order, before any effect (exact tests). */
  queueFaults(...kinds: FaultKind[]): void;
  destroyMachineBehindBack(app: string, machineId: string): void;
  /** A machine created outside Forge (or by a Forge that crashed before recording it). */
  createOrphan(app: string, opts: { metadata: Record<string, string>; region?: string; image?: string }): FakeMachine;
  exitMachine(app: string, machineId: string, exitCode: number, oomKilled?: boolean): void;
  /** Machines of an app that are neither destroyed nor being destroyed, settled to now. */
  liveMachines(app: string): FakeMachine[];
  close(): Promise<void>;
}

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

let sharedValidator: ContractValidator | undefined;

export async function startFlyFake(opts: FlyFakeOptions = {}): Promise<FlyFake> {
  const token = opts.token ?? `fake-${randomBytes(12).toString('hex')}`;
  const org = opts.org ?? 'forge-test';
  const validator = opts.validator ?? (sharedValidator ??= createContractValidator());
  const world = new FlyWorld(() => Date.now(), opts.transitionMs ?? 5);
  const dice = mulberry32(opts.seed ?? 42);
  let faults: FaultConfig = { rate: 0, latencyMs: 0, kinds: ['429', '500', 'reset'], ...opts.faults };
  const requests: LoggedRequest[] = [];
  const queued: FaultKind[] = [];
  const violations: string[] = [];
  const ctx = { world, orgs: new Set([org]), sleep: (ms: number) => delay(ms) };

  const send = (res: ServerResponse, entry: LoggedRequest, out: FakeResponse): void => {
    entry.status = out.status;
    violations.push(...validator.validateResponse(entry.method, entry.path, out.status, out.body));
    const payload = out.body === undefined ? '' : JSON.stringify(out.body);
    res.writeHead(out.status, {
      ...(payload ? { 'content-type': 'application/json' } : {}),
      'content-length': Buffer.byteLength(payload),
      ...out.headers,
    });
    res.end(payload);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://fake');
    const raw = await readBody(req);
    const entry: LoggedRequest = { method: req.method ?? 'GET', path: url.pathname, query: url.search, body: raw };
    requests.push(entry);
    if (faults.latencyMs > 0) await delay(faults.latencyMs);
    if (req.headers.authorization !== `Bearer ${token}`) return send(res, entry, { status: 401, body: { error: 'unauthorized' } });
    let body: unknown;
    if (raw !== '') {
      try {
        body = JSON.parse(raw) as unknown;
      } catch {
        return send(res, entry, { status: 400, body: { error: 'request body is not JSON' } });
      }
    }
    violations.push(...validator.validateRequest(entry.method, entry.path, url.searchParams, body));

    const next = queued.shift();
    if (next) return injectFault(res, entry, next);
    const roll = faults.rate > 0 && faults.kinds.length > 0 && dice() < faults.rate;
    const kind = roll ? faults.kinds[Math.floor(dice() * faults.kinds.length)] : undefined;
    // 429 is refused before any effect; 500 and resets land before or after it, as on a real network.
    const afterEffect = kind !== undefined && kind !== '429' && dice() < 0.5;
    if (kind && !afterEffect) return injectFault(res, entry, kind);
    const out = await route(ctx, { method: entry.method, path: entry.path, query: url.searchParams, body });
    if (kind) return injectFault(res, entry, kind);
    send(res, entry, out);
  };

  const injectFault = (res: ServerResponse, entry: LoggedRequest, kind: FaultKind): void => {
    fake.faultsInjected += 1;
    entry.fault = kind;
    if (kind === 'reset') {
      res.socket?.destroy();
      return;
    }
    if (kind === '429') {
      return send(res, entry, { status: 429, body: { error: 'rate limit exceeded' }, headers: { 'retry-after': String(opts.retryAfterSeconds ?? 0) } });
    }
    send(res, entry, { status: 500, body: { error: 'internal error', status: 'unknown' } });
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      violations.push(`fake crashed on ${req.method} ${req.url}: ${String(err)}`);
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'fake crashed' }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  const mustMachine = (app: string, id: string): FakeMachine => {
    const m = world.machine(app, id);
    if (!m) throw new Error(`fake: no machine ${id} in ${app}`);
    return m;
  };

  const fake: FlyFake = {
    url: `http://127.0.0.1:${port}`,
    token,
    org,
    world,
    requests,
    violations,
    faultsInjected: 0,
    setFaults(next) {
      faults = { ...faults, ...next };
    },
    queueFaults(...kinds) {
      queued.push(...kinds);
    },
    destroyMachineBehindBack(app, id) {
      world.destroyNow(mustMachine(app, id));
    },
    createOrphan(app, o) {
      if (!world.apps.has(app)) world.createApp(app, org);
      const config: JsonObject = { image: o.image ?? 'registry.example/orphan:1', metadata: o.metadata };
      return world.createMachine(app, o.region ?? 'iad', config, true);
    },
    exitMachine(app, id, exitCode, oomKilled = false) {
      world.exit(mustMachine(app, id), exitCode, oomKilled);
    },
    liveMachines(app) {
      return world.machinesOf(app).filter((m) => m.state !== 'destroying');
    },
    close() {
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
  return fake;
}

/** Throws when the fake saw traffic that does not match Fly's contract. */
export function assertNoContractViolations(fake: Pick<FlyFake, 'violations'>): void {
  if (fake.violations.length > 0) {
    const unique = [...new Set(fake.violations)];
    throw new Error(`Fly contract violations (${fake.violations.length}):\n  ${unique.slice(0, 20).join('\n  ')}`);
  }
}
