// What a Forge agent left on the host, read straight from the kernel: the
// sandbox cgroups under its cgroup root (in every hierarchy) with the pids in
// each, and every process whose working directory lies under a given folder.
// The chaos tests compare these with what should be running.

import { promises as fs } from 'node:fs';
import path from 'node:path';
import { detectIsolation } from '../../agent/sandbox/index.ts';
import { readPidsFile } from '../../agent/sandbox/cgroup-common.ts';

/** The parent dirs of `root` in each mounted hierarchy that has one. */
async function rootDirs(root: string): Promise<string[]> {
  const isolation = await detectIsolation({ root });
  const parents = isolation.cgroup === 'v2' && isolation.v2Mount !== undefined
    ? [path.join(isolation.v2Mount, root)]
    : Object.values(isolation.v1Bases ?? {}).map((base) => path.join(base, root));
  return [...new Set(parents)];
}

/** Sandbox cgroup name → pids in it (union over hierarchies). Empty when the root does not exist. */
export async function sandboxCgroups(root: string): Promise<Map<string, number[]>> {
  const out = new Map<string, Set<number>>();
  for (const parent of await rootDirs(root)) {
    const entries = await fs.readdir(parent, { withFileTypes: true }).catch(() => []);
    for (const entry of entries) {
      if (!entry.isDirectory()) continue;
      const pids = out.get(entry.name) ?? new Set<number>();
      for (const pid of await readPidsFile(path.join(parent, entry.name, 'cgroup.procs'))) pids.add(pid);
      out.set(entry.name, pids);
    }
  }
  return new Map([...out].map(([name, pids]) => [name, [...pids].sort((a, b) => a - b)]));
}

/** True while the root cgroup dir exists in any hierarchy. */
export async function rootExists(root: string): Promise<boolean> {
  for (const parent of await rootDirs(root)) {
    if (await fs.stat(parent).then(() => true, () => false)) return true;
  }
  return false;
}

export interface HostProcess { pid: number; cwd: string; cmdline: string; cgroups: string }

/**
 * Every live process whose cwd is `dir` or below it, or (with `cgroupRoot`) that sits in a
 * cgroup below the agent's cgroup root: a sandboxed app's cwd is read inside its own root
 * (`/app`), so only its cgroup ties it to this agent. Zombies and vanished ones skipped.
 */
export async function processesUnder(dir: string, cgroupRoot?: string): Promise<HostProcess[]> {
  const prefix = dir.endsWith(path.sep) ? dir : dir + path.sep;
  const out: HostProcess[] = [];
  for (const name of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    const cwd = await fs.readlink(`/proc/${pid}/cwd`).catch(() => '');
    const cgroups = await fs.readFile(`/proc/${pid}/cgroup`, 'utf8').catch(() => '');
    const inRoot = cgroupRoot !== undefined && cgroups.split('\n').some((line) => line.includes(`/${cgroupRoot}/`));
    if (cwd !== dir && !cwd.startsWith(prefix) && !inRoot) continue;
    const cmdline = await fs.readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (cmdline === '') continue; // a zombie or already gone
    out.push({ pid, cwd, cmdline: cmdline.split('\0').join(' ').trim(), cgroups });
  }
  return out;
}

/** `pid` and every process below it, by parent links in /proc (a snapshot). */
export async function processTree(pid: number): Promise<number[]> {
  const parentOf = new Map<number, number>();
  for (const name of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await fs.readFile(`/proc/${name}/stat`, 'utf8').catch(() => '');
    // pid (comm) state ppid …: comm may hold spaces and parentheses, so read after the last ')'.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (Number.isInteger(ppid)) parentOf.set(Number(name), ppid);
  }
  const tree = [pid];
  for (let i = 0; i < tree.length; i += 1) {
    for (const [child, parent] of parentOf) if (parent === tree[i]) tree.push(child);
  }
  return tree;
}
