// Finds out, by trying, which isolation this host gives us: cgroup v2 when the
// unified hierarchy carries memory+cpu and we can create a child there; else the
// v1 memory/cpu(/pids) hierarchies when writable; else none. Namespaces are
// checked by running `unshare` once; the container runtime (crun, user
// namespaces) and the network pieces (pasta, ip) by runtime.ts.

import { promises as fs } from 'node:fs';
import path from 'node:path';
import { detectNamespaces } from './namespaces.ts';
import { detectRuntime, type RuntimeInfo } from './runtime.ts';
import { exists } from './cgroup-common.ts';
import { ensureV2Parent, V2_REQUIRED } from './cgroup-v2.ts';
import { V1_CONTROLLERS } from './cgroup-v1.ts';
import { locateV1, locateV2, parseMountinfo, parseProcCgroup } from './paths.ts';

export interface IsolationInfo {
  cgroup: 'v2' | 'v1' | 'none';
  /** Controllers a sandbox will limit (memory, cpu and, when present, pids). */
  controllers: string[];
  namespaces: boolean;
  /** crun with user namespaces: own root, unprivileged identity, no capabilities, seccomp. */
  container: boolean;
  /** pasta and ip: an own network namespace per sandbox. */
  network: boolean;
  /** Each missing piece of isolation with how to get it; empty when complete. */
  missing: string[];
  /** See RuntimeInfo.hideUnified. */
  hideUnified: string | null;
  /** One sentence saying what was found and, when something is missing, why. */
  reason: string;
  /** v2: the unified hierarchy's mount point. */
  v2Mount?: string;
  /** v1: controller → directory of our own cgroup in that controller's hierarchy. */
  v1Bases?: Record<string, string>;
}

export interface DetectOptions {
  env?: NodeJS.ProcessEnv;
  /** Name of the forge-owned parent cgroup (default 'forge'). */
  root?: string;
  /** Skip the per-process cache. */
  fresh?: boolean;
}

export const DEFAULT_CGROUP_PARENT = 'forge';

/** True when both halves of isolation are there; production refuses anything less. */
export function isolationComplete(info: IsolationInfo): boolean {
  return info.cgroup !== 'none' && info.container && info.network;
}

const cache = new Map<string, Promise<IsolationInfo>>();

export function detectIsolation(options: DetectOptions = {}): Promise<IsolationInfo> {
  const env = options.env ?? process.env;
  if (env.FORGE_ISOLATION === 'off') {
    return Promise.resolve({
      cgroup: 'none',
      controllers: [],
      namespaces: false,
      container: false,
      network: false,
      missing: ['everything (FORGE_ISOLATION=off)'],
      hideUnified: null,
      reason: 'isolation forced off by FORGE_ISOLATION=off',
    });
  }
  const root = options.root ?? DEFAULT_CGROUP_PARENT;
  const cached = cache.get(root);
  if (cached !== undefined && options.fresh !== true) return cached;
  const probe = probeIsolation(root, env);
  cache.set(root, probe);
  return probe;
}

async function probeIsolation(root: string, env: NodeJS.ProcessEnv): Promise<IsolationInfo> {
  const [cgroups, runtime] = await Promise.all([probeCgroups(root), detectRuntime(env)]);
  const missing = [...(cgroups.cgroup === 'none' ? ['a writable cgroup hierarchy with memory and cpu (run the agent as root)'] : []), ...runtime.missing];
  const runtimeNote = runtime.missing.length === 0 ? 'crun, user namespaces and pasta available' : `missing ${runtime.missing.join(', ')}`;
  return {
    ...cgroups,
    container: runtime.container,
    network: runtime.network,
    missing,
    hideUnified: runtime.hideUnified,
    reason: `${cgroups.reason}; ${runtimeNote}`,
  };
}

type CgroupProbe = Omit<IsolationInfo, 'container' | 'network' | 'missing' | 'hideUnified'>;

async function probeCgroups(root: string): Promise<CgroupProbe> {
  const [mountinfo, procCgroup] = await Promise.all([
    fs.readFile('/proc/self/mountinfo', 'utf8').catch(() => ''),
    fs.readFile('/proc/self/cgroup', 'utf8').catch(() => ''),
  ]);
  const mounts = parseMountinfo(mountinfo);
  const ns = await detectNamespaces();
  const nsNote = ns.ok ? 'namespaces available' : `namespaces unavailable: ${ns.reason}`;

  const v2Mount = locateV2(mounts);
  const v2 = v2Mount === undefined ? { ok: false as const, why: 'no cgroup2 mount' } : await probeV2(v2Mount, root);
  const v2Why = v2.ok ? 'unreachable' : v2.why;
  if (v2.ok && v2Mount !== undefined) {
    return {
      cgroup: 'v2',
      controllers: v2.controllers,
      namespaces: ns.ok,
      reason: `cgroup v2 at ${v2Mount} with ${v2.controllers.join(', ')}; ${nsNote}`,
      v2Mount,
    };
  }
  const bases = locateV1(mounts, parseProcCgroup(procCgroup), V1_CONTROLLERS);
  const v1 = await probeV1(bases, root);
  if (v1.ok) {
    return {
      cgroup: 'v1',
      controllers: v1.controllers,
      namespaces: ns.ok,
      reason: `cgroup v1 (${v1.controllers.join(', ')}) because v2 is not usable (${v2Why}); ${nsNote}`,
      v1Bases: Object.fromEntries(v1.controllers.map((c) => [c, bases[c] as string])),
    };
  }
  return {
    cgroup: 'none',
    controllers: [],
    namespaces: ns.ok,
    reason: `no usable cgroup hierarchy (v2: ${v2Why}; v1: ${v1.ok ? '' : v1.why}); ${nsNote}`,
  };
}

type Probe = { ok: true; controllers: string[] } | { ok: false; why: string };

function errText(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? (err as Error).message;
}

async function probeV2(mount: string, root: string): Promise<Probe> {
  const available = ((await fs.readFile(path.join(mount, 'cgroup.controllers'), 'utf8').catch(() => '')) ?? '').split(/\s+/);
  const missing = V2_REQUIRED.filter((c) => !available.includes(c));
  if (missing.length > 0) return { ok: false, why: `${mount} lacks the ${missing.join(' and ')} controller` };
  const probe = path.join(mount, root, `probe-${process.pid}`);
  try {
    const parent = await ensureV2Parent(mount, root);
    const short = V2_REQUIRED.filter((c) => !parent.controllers.includes(c));
    if (short.length > 0) return { ok: false, why: `cannot enable ${short.join(' and ')} under ${parent.dir}` };
    await fs.mkdir(probe);
    const usable = (await exists(path.join(probe, 'memory.max'))) && (await exists(path.join(probe, 'cpu.max')));
    if (!usable) return { ok: false, why: `a child of ${parent.dir} has no memory.max/cpu.max` };
    return { ok: true, controllers: parent.controllers };
  } catch (err) {
    return { ok: false, why: `cannot create a cgroup under ${mount}: ${errText(err)}` };
  } finally {
    await fs.rmdir(probe).catch(() => undefined);
  }
}

async function probeV1(bases: Record<string, string>, root: string): Promise<Probe> {
  const controllers: string[] = [];
  const problems: string[] = [];
  for (const controller of V1_CONTROLLERS) {
    const base = bases[controller];
    if (base === undefined) {
      problems.push(`no ${controller} hierarchy`);
      continue;
    }
    const probe = path.join(base, root, `probe-${process.pid}`);
    try {
      await fs.mkdir(probe, { recursive: true });
      controllers.push(controller);
    } catch (err) {
      problems.push(`${controller} not writable (${errText(err)})`);
    } finally {
      await fs.rmdir(probe).catch(() => undefined);
    }
  }
  if (!controllers.includes('memory') || !controllers.includes('cpu')) {
    return { ok: false, why: problems.join(', ') || 'memory and cpu hierarchies missing' };
  }
  return { ok: true, controllers };
}
