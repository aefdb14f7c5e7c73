// Which pieces of the isolation this host has, found by trying: the OCI runtime
// (crun), user namespaces, pasta and iproute2 for the network namespace. Each
// missing piece is named with how to get it, for production's refusal and
// development's one warning.

import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { locateV2, parseMountinfo } from './paths.ts';

const run = promisify(execFile);

export interface RuntimeInfo {
  /** crun runs and user namespaces can be made: own root, unprivileged identity, seccomp. */
  container: boolean;
  /** pasta and ip are there: an own network namespace per sandbox. */
  network: boolean;
  /** One entry per missing piece: what and how to get it. */
  missing: string[];
  /**
   * A hybrid cgroup host whose unified hierarchy carries controllers: crun 1.8
   * refuses to start there even with its cgroup manager disabled, so the
   * hierarchy is unmounted in a private mount namespace around it (Forge's own
   * cgroups are v1 on such a host and stay untouched).
   */
  hideUnified: string | null;
}

async function works(file: string, args: string[], env: NodeJS.ProcessEnv): Promise<boolean> {
  try {
    await run(file, args, { timeout: 5_000, env: { PATH: env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' } });
    return true;
  } catch {
    return false;
  }
}

/** Pure: the unified mount to hide from crun, or null (pure v2 at /sys/fs/cgroup, or an empty unified hierarchy). */
export function unifiedToHide(mountinfo: string, controllersOf: (mount: string) => string): string | null {
  const v2 = locateV2(parseMountinfo(mountinfo));
  if (v2 === undefined || v2 === '/sys/fs/cgroup') return null;
  return controllersOf(v2).trim() === '' ? null : v2;
}

/** @param env its PATH is where the tools are looked for (the agent's own). */
export async function detectRuntime(env: NodeJS.ProcessEnv = process.env): Promise<RuntimeInfo> {
  const missing: string[] = [];
  const [crun, pasta, ip] = await Promise.all([
    works('crun', ['--version'], env),
    works('pasta', ['--version'], env),
    works('ip', ['-V'], env),
  ]);
  if (!crun) missing.push('the OCI runtime crun (apt-get install crun)');
  const maxUserNs = Number(readText('/proc/sys/user/max_user_namespaces').trim() || '0');
  if (!(maxUserNs > 0)) missing.push('user namespaces (sysctl user.max_user_namespaces=15000; a kernel with CONFIG_USER_NS)');
  if (!pasta) missing.push('pasta for network namespaces (apt-get install passt)');
  if (!ip) missing.push('iproute2 for network namespaces (apt-get install iproute2)');
  const hideUnified = unifiedToHide(readText('/proc/self/mountinfo'), (m) => readText(`${m}/cgroup.controllers`));
  return { container: crun && maxUserNs > 0, network: pasta && ip, missing, hideUnified };
}

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}
