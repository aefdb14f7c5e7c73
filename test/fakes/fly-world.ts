// The Fly fake's state: apps per org, machines with versions and timed state
// transitions, events, IP assignments, versioned app secrets and deploy tokens.
// Transitions are planned as (time, state) steps and applied lazily on read, so
// the fake needs no timers and a test's clock decides what "a few ms later" is.

import { createHash, randomBytes } from 'node:crypto';

export type JsonObject = Record<string, unknown>;

export interface MachineEventView {
  id: string;
  type: string;
  status: string;
  source: string;
  timestamp: number;
  request?: JsonObject;
}

interface PlannedStep {
  at: number;
  state: string;
  event?: Omit<MachineEventView, 'id' | 'timestamp'>;
}

export interface FakeMachine {
  id: string;
  app: string;
  name: string;
  region: string;
  state: string;
  config: JsonObject;
  version: string;
  privateIp: string;
  createdAt: number;
  updatedAt: number;
  plan: PlannedStep[];
  events: MachineEventView[];
  versions: { version: string; config: JsonObject }[];
  checkStatus: 'passing' | 'critical' | 'warning';
}

export interface FakeIp {
  ip: string;
  type: string;
  shared: boolean;
  region: string;
  created_at: string;
}

export interface FakeApp {
  id: string;
  name: string;
  org: string;
  createdAt: number;
  idempotencyKey?: string;
  ips: FakeIp[];
  secrets: Map<string, { value: string; digest: string; createdAt: number; updatedAt: number }>;
  secretsVersion: number;
  deployTokens: { token: string; expiry: string }[];
}

/** States in which a machine counts as running for "delete needs force". */
export const RUNNING_STATES = new Set(['started', 'starting', 'replacing', 'stopping']);

/** A machine that runs its command once and stays down: what a release command machine is. */
function isOneShot(config: JsonObject): boolean {
  const restart = config['restart'] as JsonObject | undefined;
  const init = config['init'] as JsonObject | undefined;
  return restart?.['policy'] === 'no' && Array.isArray(init?.['cmd']);
}

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

function ulidLike(): string {
  return Array.from(randomBytes(26), (b) => CROCKFORD[b % 32]).join('');
}

export class FlyWorld {
  readonly apps = new Map<string, FakeApp>();
  /** Every machine ever created, destroyed ones included (include_deleted shows them). */
  readonly machines = new Map<string, FakeMachine>();
  transitionMs: number;
  /** The next N IP allocations answer without an address (Fly does this under load). */
  blankIpAllocations = 0;
  /**
   * A one-shot machine (restart policy `no` with an init.cmd) runs its command and exits with
   * this code; with `auto_destroy` it is then destroyed, as Fly does. Tests set it per command.
   */
  oneShotExitCode: (config: JsonObject) => number = () => 0;
  private ipCounter = 0;
  private eventCounter = 0;

  constructor(
    readonly now: () => number,
    transitionMs: number,
  ) {
    this.transitionMs = transitionMs;
  }

  createApp(name: string, org: string, idempotencyKey?: string): FakeApp {
    const app: FakeApp = {
      id: randomBytes(8).toString('hex'),
      name,
      org,
      createdAt: this.now(),
      ips: [],
      secrets: new Map(),
      secretsVersion: 0,
      deployTokens: [],
      ...(idempotencyKey === undefined ? {} : { idempotencyKey }),
    };
    this.apps.set(name, app);
    return app;
  }

  deleteApp(name: string): void {
    for (const m of this.machinesOf(name, true)) this.destroyNow(m);
    this.apps.delete(name);
  }

  machinesOf(app: string, includeDeleted = false): FakeMachine[] {
    const out: FakeMachine[] = [];
    for (const m of this.machines.values()) {
      if (m.app !== app) continue;
      this.settle(m);
      if (includeDeleted || m.state !== 'destroyed') out.push(m);
    }
    return out;
  }

  machine(app: string, id: string): FakeMachine | undefined {
    const m = this.machines.get(id);
    if (!m || m.app !== app) return undefined;
    this.settle(m);
    return m;
  }

  createMachine(app: string, region: string, config: JsonObject, launch: boolean, name?: string): FakeMachine {
    const id = randomBytes(7).toString('hex');
    const version = ulidLike();
    const now = this.now();
    const m: FakeMachine = {
      id,
      app,
      name: name ?? `machine-${id.slice(0, 6)}`,
      region,
      state: 'created',
      config: structuredClone(config),
      version,
      privateIp: `fdaa:0:1:a7b::${(++this.ipCounter).toString(16)}`,
      createdAt: now,
      updatedAt: now,
      plan: [],
      events: [],
      versions: [{ version, config: structuredClone(config) }],
      checkStatus: 'passing',
    };
    this.machines.set(id, m);
    this.record(m, { type: 'launch', status: 'created', source: 'user' }, now);
    if (launch && isOneShot(config)) {
      const exitCode = this.oneShotExitCode(config);
      this.schedule(m, [
        ['starting'], ['started', { type: 'start', status: 'started', source: 'flyd' }],
        ['stopped', { type: 'exit', status: 'stopped', source: 'flyd', request: { exit_event: { exit_code: exitCode, oom_killed: false, requested_stop: false } } }],
        ...(config['auto_destroy'] === true ? [['destroyed', { type: 'destroy', status: 'destroyed', source: 'flyd' }] as [string, PlannedStep['event']]] : []),
      ]);
    } else if (launch) this.schedule(m, [['starting'], ['started', { type: 'start', status: 'started', source: 'flyd' }]]);
    return m;
  }

  updateMachine(m: FakeMachine, config: JsonObject, launch: boolean): void {
    m.version = ulidLike();
    m.config = structuredClone(config);
    m.versions.push({ version: m.version, config: structuredClone(config) });
    this.enter(m, 'replacing', { type: 'update', status: 'replacing', source: 'user' });
    if (launch) this.schedule(m, [['starting'], ['started', { type: 'start', status: 'started', source: 'flyd' }]]);
    else this.schedule(m, [['stopped', { type: 'update', status: 'stopped', source: 'flyd' }]]);
  }

  /** Fly's metadata endpoint: keys change, the config version and the machine's state do not. */
  setMetadata(m: FakeMachine, changes: Record<string, string | null>): void {
    this.settle(m);
    const meta = { ...((m.config['metadata'] as Record<string, string> | undefined) ?? {}) };
    for (const [k, v] of Object.entries(changes)) {
      if (v === null || v === '') delete meta[k];
      else meta[k] = v;
    }
    m.config = { ...m.config, metadata: meta };
    m.updatedAt = Math.max(this.now(), m.updatedAt + 1);
  }

  startMachine(m: FakeMachine): void {
    this.enter(m, 'starting', { type: 'start', status: 'starting', source: 'user' });
    this.schedule(m, [['started', { type: 'start', status: 'started', source: 'flyd' }]]);
  }

  stopMachine(m: FakeMachine): void {
    this.enter(m, 'stopping', { type: 'stop', status: 'stopping', source: 'user' });
    this.schedule(m, [['stopped', { type: 'exit', status: 'stopped', source: 'flyd', request: { exit_event: { exit_code: 0, oom_killed: false, requested_stop: true } } }]]);
  }

  destroyMachine(m: FakeMachine): void {
    this.enter(m, 'destroying', { type: 'destroy', status: 'destroying', source: 'user' });
    this.schedule(m, [['destroyed', { type: 'destroy', status: 'destroyed', source: 'flyd' }]]);
  }

  /** A machine gone without Forge asking: an operator's `fly machine destroy`, a host loss. */
  destroyNow(m: FakeMachine): void {
    m.plan = [];
    this.enter(m, 'destroyed', { type: 'destroy', status: 'destroyed', source: 'user' });
  }

  /** The main process exited (a crash, an OOM kill): the machine stops. */
  exit(m: FakeMachine, exitCode: number, oomKilled: boolean): void {
    m.plan = [];
    this.enter(m, 'stopped', { type: 'exit', status: 'stopped', source: 'flyd', request: { exit_event: { exit_code: exitCode, oom_killed: oomKilled } } });
  }

  allocateIp(app: FakeApp, type: string, region: string): FakeIp | undefined {
    if (this.blankIpAllocations > 0) {
      this.blankIpAllocations -= 1;
      return undefined;
    }
    const n = ++this.ipCounter;
    const v6 = type === 'v6' || type === 'private_v6';
    const ip: FakeIp = {
      ip: v6 ? `2a09:8280:1::${n.toString(16)}` : `66.241.${(n >> 8) & 255}.${n & 255}`,
      type,
      shared: type === 'shared_v4',
      region,
      created_at: new Date(this.now()).toISOString(),
    };
    app.ips.push(ip);
    return ip;
  }

  setSecrets(app: FakeApp, values: Record<string, string>): number {
    const now = this.now();
    for (const [name, value] of Object.entries(values)) {
      const digest = createHash('sha256').update(value).digest('hex').slice(0, 16);
      const prev = app.secrets.get(name);
      app.secrets.set(name, { value, digest, createdAt: prev?.createdAt ?? now, updatedAt: now });
    }
    app.secretsVersion += 1;
    return app.secretsVersion;
  }

  /** Applies every planned step whose time has come. */
  settle(m: FakeMachine): void {
    const now = this.now();
    while (m.plan.length > 0 && m.plan[0]!.at <= now) {
      const step = m.plan.shift()!;
      m.state = step.state;
      m.updatedAt = step.at;
      if (step.event) this.record(m, step.event, step.at);
    }
  }

  private enter(m: FakeMachine, state: string, event: PlannedStep['event']): void {
    const now = this.now();
    this.settle(m);
    m.plan = [];
    m.state = state;
    m.updatedAt = now;
    if (event) this.record(m, event, now);
  }

  private schedule(m: FakeMachine, steps: [string, PlannedStep['event']?][]): void {
    const start = this.now();
    m.plan = steps.map(([state, event], i) => ({ at: start + (i + 1) * this.transitionMs, state, ...(event ? { event } : {}) }));
    this.settle(m);
  }

  private record(m: FakeMachine, event: NonNullable<PlannedStep['event']>, at: number): void {
    this.eventCounter += 1;
    m.events.unshift({ id: `${ulidLike().slice(0, 20)}${String(this.eventCounter).padStart(6, '0')}`, timestamp: at, ...event });
    if (m.events.length > 100) m.events.length = 100;
  }
}
