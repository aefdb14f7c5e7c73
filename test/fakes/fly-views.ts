// How the Fly fake renders its state as API bodies (the contract's Machine,
// OrgMachine, App, IPAssignment, MachineEvent shapes).

import type { FakeApp, FakeIp, FakeMachine, JsonObject } from './fly-world.ts';

const iso = (ms: number): string => new Date(ms).toISOString();

function imageRef(image: unknown): JsonObject {
  const ref = typeof image === 'string' ? image : '';
  const at = ref.indexOf('@');
  const withoutDigest = at >= 0 ? ref.slice(0, at) : ref;
  const colon = withoutDigest.lastIndexOf(':');
  const slash = withoutDigest.indexOf('/');
  const hasTag = colon > withoutDigest.lastIndexOf('/');
  const repoPart = hasTag ? withoutDigest.slice(0, colon) : withoutDigest;
  const registry = slash > 0 && /[.:]/.test(repoPart.slice(0, slash)) ? repoPart.slice(0, slash) : 'docker-hub-mirror.fly.io';
  const repository = registry === 'docker-hub-mirror.fly.io' ? repoPart : repoPart.slice(slash + 1);
  return {
    registry,
    repository,
    tag: hasTag ? withoutDigest.slice(colon + 1) : 'latest',
    digest: at >= 0 ? ref.slice(at + 1) : `sha256:${Buffer.from(ref).toString('hex').slice(0, 32).padEnd(64, '0')}`,
    labels: {},
  };
}

/** Names of the checks a config declares, the way Fly names them in `checks`. */
function checkNames(config: JsonObject): string[] {
  const names = Object.keys((config['checks'] as JsonObject | undefined) ?? {});
  const services = (config['services'] as JsonObject[] | undefined) ?? [];
  services.forEach((service, si) => {
    const checks = (service['checks'] as JsonObject[] | undefined) ?? [];
    checks.forEach((check, ci) => {
      names.push(`servicecheck-${String(si).padStart(2, '0')}-${String(check['type'] ?? 'tcp')}-${ci}`);
    });
  });
  return names;
}

export function machineView(m: FakeMachine, summary = false): JsonObject {
  const base: JsonObject = {
    id: m.id,
    name: m.name,
    state: m.state,
    region: m.region,
    instance_id: m.version,
    version: m.version,
    private_ip: m.privateIp,
    created_at: iso(m.createdAt),
    updated_at: iso(m.updatedAt),
    image_ref: imageRef(m.config['image']),
  };
  if (summary) return base;
  const checkStatus = m.state === 'started' ? m.checkStatus : 'critical';
  return {
    ...base,
    config: structuredClone(m.config),
    host_status: 'ok',
    events: m.events.slice(0, 10),
    checks: checkNames(m.config).map((name) => ({ name, status: checkStatus, output: checkStatus === 'passing' ? 'OK' : 'failing', updated_at: iso(m.updatedAt) })),
  };
}

export function orgMachineView(m: FakeMachine, summary: boolean): JsonObject {
  const view: JsonObject = {
    id: m.id,
    name: m.name,
    app_name: m.app,
    state: m.state,
    region: m.region,
    version: m.version,
    private_ip: m.privateIp,
    created_at: iso(m.createdAt),
    updated_at: iso(m.updatedAt),
  };
  if (!summary) {
    view['config'] = {
      image: m.config['image'],
      guest: structuredClone(m.config['guest'] ?? {}),
      metadata: structuredClone(m.config['metadata'] ?? {}),
    };
  }
  return view;
}

export function appView(app: FakeApp, machineCount: number): JsonObject {
  return {
    id: app.id,
    name: app.name,
    status: machineCount > 0 ? 'deployed' : 'pending',
    machine_count: machineCount,
    volume_count: 0,
    network: 'default',
    organization: { slug: app.org, name: app.org },
  };
}

export function ipView(ip: FakeIp): JsonObject {
  return { ip: ip.ip, region: ip.region, shared: ip.shared, created_at: ip.created_at, service_name: '', egress: false };
}
