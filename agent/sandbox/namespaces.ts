// Linux namespaces through util-linux `unshare`, and the argv that puts a
// command into its cgroup *before* it runs.

import { spawn } from 'node:child_process';
import { GATE_SCRIPT } from './start-gate.ts';

export const UNSHARE_FLAGS = ['--mount', '--pid', '--ipc', '--uts', '--fork', '--mount-proc'] as const;

/** True when this process may create mount, PID, IPC and UTS namespaces. */
export function detectNamespaces(timeoutMs = 5_000): Promise<{ ok: boolean; reason: string }> {
  return new Promise((resolve) => {
    let stderr = '';
    const child = spawn('unshare', [...UNSHARE_FLAGS, 'true'], { stdio: ['ignore', 'ignore', 'pipe'], timeout: timeoutMs });
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', (err) => resolve({ ok: false, reason: `unshare not runnable: ${err.message}` }));
    child.on('close', (code, signal) => {
      if (code === 0) resolve({ ok: true, reason: 'unshare --mount --pid --ipc --uts works' });
      else resolve({ ok: false, reason: `unshare failed (${signal ?? `exit ${code}`}): ${stderr.trim().split('\n')[0] ?? ''}` });
    });
  });
}

// Runs as the spawned child: writes its own pid into every cgroup.procs file
// given before `--`, then execs the rest. The pid stays the same across exec,
// so the user command starts inside the cgroup and every descendant inherits it.
const JOIN_SCRIPT = [
  'while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do',
  '  echo $$ > "$1" || { echo "forge-sandbox: could not join cgroup ($1)" >&2; exit 125; }',
  '  shift',
  'done',
  'shift',
  'exec "$@"',
].join('\n');

// Every shell Forge puts around the user's command catches SIGTERM with a
// no-op trap: a shell killed by our SIGTERM would end before the app finished
// its graceful shutdown (and, as the namespace's last link to init, take the
// namespace down). A caught signal is reset to default across exec, so the
// app itself still gets ordinary SIGTERM semantics, also when the command
// says `exec app`. `; exit $?` stops a shell that turns a trailing command
// into exec from skipping the trap.
const RUN_SCRIPT = 'trap : TERM; eval "$1"; exit $?';

// PID 1 of the new namespace stays a plain shell: the kernel drops signals to
// a namespace's init that has no handler, so an app running as PID 1 would
// ignore SIGTERM. When init exits, the kernel kills all that is left inside.
const INIT_SCRIPT = '/bin/sh -c "$1" forge-run "$2"; exit $?';


/** What runs as the container's process: init shell (through the start gate when gated) → run shell → the command. */
export function containerProcessArgs(command: string, gated = false): string[] {
  return ['/bin/sh', '-c', gated ? GATE_SCRIPT + INIT_SCRIPT : INIT_SCRIPT, 'forge-init', RUN_SCRIPT, command];
}

export interface ContainerLaunch {
  /** crun's state directory (--root). */
  stateRoot: string;
  bundle: string;
  containerId: string;
  /** A cgroup2 mount to unmount privately before crun starts (see runtime.ts). */
  hideUnified: string | null;
  /** Pass the start gate's fd (START_GATE_FD) into the container. */
  gated?: boolean;
}

/**
 * [file, args] that join the cgroup, then exec crun with the bundle. Nothing
 * secret is in here: the app's env lives in the bundle's config.json (root-only).
 * crun's cgroup manager is off: the process is already in Forge's cgroup, and the
 * config's cgroup namespace makes that cgroup the root of what the app sees.
 */
export function containerArgv(procsFiles: string[], launch: ContainerLaunch): [string, string[]] {
  const crun = [
    'crun', '--root', launch.stateRoot, '--cgroup-manager=disabled', 'run',
    // --preserve-fds 1: fd 3, the first after stdio, is passed into the container.
    ...(launch.gated === true ? ['--preserve-fds', '1'] : []), '--bundle', launch.bundle, launch.containerId,
  ];
  const inner = launch.hideUnified === null
    ? crun
    : ['unshare', '--mount', '--propagation', 'private', '/bin/sh', '-c', 'umount -l "$0" && exec "$@"', launch.hideUnified, ...crun];
  if (procsFiles.length === 0) return [inner[0] as string, inner.slice(1)];
  return ['/bin/sh', ['-c', JOIN_SCRIPT, 'forge-join', ...procsFiles, '--', ...inner]];
}

/** [file, args] that run `command` through /bin/sh inside the cgroup and (optionally) new namespaces. */
export function sandboxArgv(procsFiles: string[], command: string, namespaces: boolean): [string, string[]] {
  const inner = namespaces
    ? ['unshare', ...UNSHARE_FLAGS, '/bin/sh', '-c', INIT_SCRIPT, 'forge-init', RUN_SCRIPT, command]
    : ['/bin/sh', '-c', RUN_SCRIPT, 'forge-run', command];
  if (procsFiles.length === 0) return [inner[0] as string, inner.slice(1)];
  return ['/bin/sh', ['-c', JOIN_SCRIPT, 'forge-join', ...procsFiles, '--', ...inner]];
}
