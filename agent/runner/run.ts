// Starts one app instance: run.command through /bin/sh -c inside its own
// sandbox, PORT set, env and secrets injected, output to rotating log files.

import path from 'node:path';
import { createSandbox, type ExitInfo, type Sandbox } from '../sandbox/index.ts';
import type { SandboxLimits } from './build.ts';
import { buildEnv } from './env.ts';
import { imageEnv, type UnpackedImage } from '../image/unpack.ts';
import { captureOutput, DEFAULT_LOG_FILES, DEFAULT_LOG_MAX_BYTES, LineTail, RotatingLog, type Stream } from './logs.ts';

export interface InstanceOptions {
  /** Instance id; names the cgroup. */
  id: string;
  workDir: string;
  command: string;
  port: number;
  env: Record<string, string>;
  secrets?: Record<string, string>;
  sandbox: SandboxLimits;
  logDir: string;
  logMaxBytes?: number;
  logFiles?: number;
  /** Each line of the app's output as it is read (the agent ships it to the control plane). */
  onLine?: (line: string, stream: Stream) => void;
  /** An image instance: its root, entrypoint/cmd, env, cwd and user instead of `command` in the host's dirs. */
  image?: UnpackedImage;
}

export interface InstanceHandle {
  id: string;
  /** Host pid of the process Forge spawned (crun, or the `unshare` wrapper without crun). */
  pid: number;
  port: number;
  logFile: string;
  /** Non-null when the instance runs with less isolation than production demands. */
  warning: string | null;
  sandbox: Sandbox;
  /** Resolves when the instance has ended and its cgroup is gone. Never rejects. */
  exited: Promise<ExitInfo>;
  /** SIGTERM, then SIGKILL after graceMs; resolves with the exit. */
  stop(graceMs?: number): Promise<ExitInfo>;
  /** Whether the app listens on its port inside its network namespace (null: no own namespace; see Sandbox.listening). */
  listening(): Promise<boolean | null>;
  /** The last n lines of output (stdout and stderr interleaved). */
  tail(n?: number): string[];
}

export const DEFAULT_STOP_GRACE_MS = 10_000;

/** Throws E_ISOLATION_UNAVAILABLE in production without isolation; a crash later shows in `exited`. */
export async function startInstance(options: InstanceOptions): Promise<InstanceHandle> {
  // Only $PORT is forwarded into the instance's network namespace, on the agent's address.
  const network = { bindHost: options.sandbox.network?.bindHost ?? '127.0.0.1', egress: options.sandbox.network?.egress ?? true, port: options.port };
  const image = options.image;
  const sandbox = await createSandbox({
    ...options.sandbox, workDir: options.workDir, network, id: options.id,
    ...(image === undefined ? {} : { image: { rootfs: image.rootfs, uid: image.process.uid, gid: image.process.gid, additionalGids: image.process.additionalGids, cwd: image.process.cwd } }),
  });
  const logFile = path.join(options.logDir, 'output.log');
  const log = new RotatingLog(logFile, options.logMaxBytes ?? DEFAULT_LOG_MAX_BYTES, options.logFiles ?? DEFAULT_LOG_FILES);
  const lines = new LineTail(500, options.onLine);
  // An image brings its own PATH and HOME; the spec's env, secrets and PORT go over them.
  const fromImage = image === undefined ? undefined : imageEnv(image.process.env);
  const env = buildEnv({
    hostPath: fromImage === undefined ? process.env.PATH : (fromImage.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'),
    home: fromImage === undefined ? options.workDir : (fromImage.HOME ?? '/'),
    env: fromImage === undefined ? options.env : { ...fromImage, ...options.env },
    secrets: options.secrets,
    port: options.port,
  });
  let proc;
  try {
    proc = await sandbox.spawn(options.command, {
      cwd: options.workDir, env, recentLines: () => lines.tail(20), ...(image === undefined ? {} : { argv: image.process.args }),
    });
  } catch (err) {
    log.close();
    await sandbox.destroy(0);
    throw err;
  }
  captureOutput(proc.child, log, lines);
  const exited = proc.exited.then(async (exit) => {
    lines.flush();
    // The PID namespace is gone with its init; this removes the cgroup (and any straggler without namespaces).
    await sandbox.destroy(0).catch(() => undefined);
    log.close();
    return exit;
  });
  return {
    id: options.id,
    pid: proc.pid,
    port: options.port,
    logFile,
    warning: sandbox.warning,
    sandbox,
    exited,
    async stop(graceMs = DEFAULT_STOP_GRACE_MS) {
      await sandbox.destroy(graceMs);
      return exited;
    },
    listening: () => sandbox.listening(options.port),
    tail: (n = 20) => lines.tail(n),
  };
}
