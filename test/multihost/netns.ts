// A small network of "hosts" on one machine: one network namespace per host, each
// with one veth into a bridge that lives in its own "switch" namespace. Addresses
// are 10.213.N.x/24 (N from the test's pid) and exist only inside these
// namespaces; nothing is added to the root namespace. destroy() removes every
// namespace (and with them every veth and the bridge), also after a failure.

import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';

export interface Host {
  ns: string;
  ip: string;
}

export interface Fleet {
  hosts: Record<string, Host>;
  /**
   * Spawns `argv` inside a host's network namespace (nsenter execs it: the pid is the command's).
   * Not `ip netns exec`: that mounts a fresh /sys, without the host's cgroup mounts the agents' sandboxes need.
   */
  spawnIn(host: string, argv: string[], options?: SpawnOptions): ChildProcess;
  /** Pids of every process in a host's network namespace. */
  pidsIn(host: string): number[];
  destroy(): void;
}

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

export function createFleet(names: readonly string[]): Fleet {
  const tag = `fmh${process.pid % 100_000}`;
  const subnet = `10.213.${process.pid % 250}`;
  const sw = `${tag}-sw`;
  const hosts: Record<string, Host> = {};
  const created: string[] = [];
  const fleet: Fleet = {
    hosts,
    spawnIn(host, argv, options = {}) {
      return spawn('nsenter', [`--net=/run/netns/${hosts[host]!.ns}`, '--', ...argv], options);
    },
    pidsIn(host) {
      try {
        return execFileSync('ip', ['netns', 'pids', hosts[host]!.ns], { encoding: 'utf8' }).split(/\s+/).filter(Boolean).map(Number);
      } catch {
        return [];
      }
    },
    destroy() {
      for (const ns of created.reverse()) {
        for (const pid of (() => { try { return execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).split(/\s+/).filter(Boolean).map(Number); } catch { return []; } })()) {
          try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
        }
        try { ip('netns', 'del', ns); } catch { /* already gone */ }
      }
      created.length = 0;
    },
  };
  try {
    ip('netns', 'add', sw);
    created.push(sw);
    ip('-n', sw, 'link', 'add', 'br0', 'type', 'bridge');
    ip('-n', sw, 'link', 'set', 'br0', 'up');
    // The bridge holds .1, every host's default gateway: a real host has a default route, and
    // pasta (the sandbox's network) derives its namespace's routes from it. Nothing routes beyond.
    ip('-n', sw, 'addr', 'add', `${subnet}.1/24`, 'dev', 'br0');
    names.forEach((name, index) => {
      const ns = `${tag}-${name}`;
      const addr = `${subnet}.${index + 2}`;
      ip('netns', 'add', ns);
      created.push(ns);
      ip('-n', ns, 'link', 'set', 'lo', 'up');
      // Both ends are created inside the namespaces: no interface ever appears in the root namespace.
      ip('-n', sw, 'link', 'add', `p${index}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
      ip('-n', sw, 'link', 'set', `p${index}`, 'master', 'br0', 'up');
      ip('-n', ns, 'addr', 'add', `${addr}/24`, 'dev', 'eth0');
      ip('-n', ns, 'link', 'set', 'eth0', 'up');
      ip('-n', ns, 'route', 'add', 'default', 'via', `${subnet}.1`);
      hosts[name] = { ns, ip: addr };
    });
  } catch (error) {
    fleet.destroy();
    throw error;
  }
  return fleet;
}
