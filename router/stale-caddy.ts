// A managed caddy outlives a Forge process that was SIGKILLed (or OOM-killed): it
// keeps the admin and HTTP ports, so the next start's caddy could not bind them,
// and health checks would talk to the orphan. Each spawn writes its pid next to
// the config; the next start ends that process, but only when /proc still shows
// it running `caddy run --config <this very config>`: a recycled pid is left alone.

import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

export function writeCaddyPid(pidPath: string, pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    writeFileSync(pidPath, `${pid}\n`);
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

/** Still running: present in /proc and not a zombie (an orphan's zombie waits for init to reap it). */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/**
 * Ends the caddy a previous Forge run left (SIGTERM, then SIGKILL after `timeoutMs`).
 * Returns its pid, or null when there was none to end.
 */
export async function stopStaleCaddy(pidPath: string, configPath: string, timeoutMs: number): Promise<number | null> {
  let pid: number;
  try {
    pid = Number(readFileSync(pidPath, 'utf8').trim());
  } catch {
    return null;
  }
  removeCaddyPid(pidPath);
  if (!Number.isInteger(pid) || pid <= 1) return null;
  let cmdline: string;
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return null; // gone already
  }
  if (!isOurCaddy(cmdline, configPath)) return null;
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + timeoutMs;
  while (running(pid) && Date.now() < deadline) await sleep(25);
  if (running(pid)) {
    process.kill(pid, 'SIGKILL');
    for (let i = 0; i < 200 && running(pid); i += 1) await sleep(10);
  }
  return pid;
}
