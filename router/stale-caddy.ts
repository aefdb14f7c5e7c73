// A managed caddy outlives a Forge process that was SIGKILLed (or OOM-killed): it
// keeps the admin and HTTP ports, so the next start's caddy could not bind them,
// and health checks would talk to the orphan. Each spawn writes `<caddy pid> <forge
// pid>` next to the config. The next start ends that caddy only when its Forge is
// gone (a Forge still running on this data dir keeps its caddy; the new one then
// fails to bind, as two Forges on one data dir should) and /proc still shows it
// running `caddy run --config <this very config>` (a recycled pid is left alone).

import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

export function writeCaddyPid(pidPath: string, pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    writeFileSync(pidPath, `${pid} ${process.pid}\n`);
  } catch {
    // A full disk must not stop caddy from running; only the takeover after a crash is lost.
  }
}

export function removeCaddyPid(pidPath: string): void {
  rmSync(pidPath, { force: true });
}

/** True when `cmdline` (NUL-separated, from /proc) is a caddy running exactly `configPath`. */
export function isOurCaddy(cmdline: string, configPath: string): boolean {
  const argv = cmdline.split('\0').filter((a) => a !== '');
  const at = argv.indexOf('--config');
  return argv.length >= 4 && /(^|\/)caddy$/.test(argv[0] ?? '') && argv[1] === 'run' && at > 0 && argv[at + 1] === configPath;
}

/** A process that ended meanwhile (ESRCH) is what we wanted; nothing to report. */
export function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // gone already
  }
}

/** Still running: present in /proc and not a zombie (an orphan's zombie waits for init to reap it). */
export function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/**
 * The caddy pid the pid file names, when the Forge that wrote it is gone (or is this very
 * process); null when there is no file, it names no usable pid, or its Forge still runs
 * (that Forge keeps its caddy).
 */
function pidWhoseForgeIsGone(pidPath: string): number | null {
  let pid: number;
  let owner: number;
  try {
    [pid, owner] = readFileSync(pidPath, 'utf8').trim().split(/\s+/).map(Number) as [number, number];
  } catch {
    return null;
  }
  if (!Number.isInteger(pid) || pid <= 1) return null;
  if (Number.isInteger(owner) && owner !== process.pid && running(owner)) return null;
  return pid;
}

/**
 * The pid of the caddy an earlier, now ended Forge run on this data dir left running (the one
 * stopStaleCaddy would end), or null. Reads only: start-up asks it before deciding whether an
 * address someone holds is that caddy (ours to replace) or someone else's (never touched).
 */
export function leftBehindCaddy(pidPath: string, configPath: string): number | null {
  const pid = pidWhoseForgeIsGone(pidPath);
  if (pid === null || !running(pid)) return null;
  try {
    return isOurCaddy(readFileSync(`/proc/${pid}/cmdline`, 'utf8'), configPath) ? pid : null;
  } catch {
    return null;
  }
}

/**
 * Ends the caddy a previous Forge run left (SIGTERM, then SIGKILL after `timeoutMs`).
 * Returns its pid, or null when there was none to end.
 */
export async function stopStaleCaddy(pidPath: string, configPath: string, timeoutMs: number): Promise<number | null> {
  const pid = pidWhoseForgeIsGone(pidPath);
  if (pid === null) return null;
  removeCaddyPid(pidPath);
  let cmdline: string;
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return null; // gone already
  }
  if (!isOurCaddy(cmdline, configPath)) return null;
  signal(pid, 'SIGTERM');
  const deadline = Date.now() + timeoutMs;
  while (running(pid) && Date.now() < deadline) await sleep(25);
  if (running(pid)) {
    signal(pid, 'SIGKILL');
    for (let i = 0; i < 200 && running(pid); i += 1) await sleep(10);
  }
  return pid;
}
