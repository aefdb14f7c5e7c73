// A release's work dir and its build: copy the source (commit recorded), then
// run build.commands in order inside one sandbox, stopping at the first failure.

import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { ForgeError } from '../../errors/index.ts';
import { createSandbox, type ExitInfo, type SandboxOptions } from '../sandbox/index.ts';
import { buildEnv, FALLBACK_PATH } from './env.ts';
import { captureOutput, LineTail, RotatingLog, type Stream } from './logs.ts';

/** Never copied into a release: installed deps are rebuilt, VCS and Forge state are not the app's. */
export const SKIPPED_SOURCE_ENTRIES = new Set(['node_modules', '.git', '.forge']);

export interface PreparedWorkDir {
  dir: string;
  /** HEAD of the git repository holding the source, or null when it is not in one. */
  commit: string | null;
}

/** @param gitDir where to read the commit from, when sourceDir is a copy (source-cache.ts) */
export async function prepareWorkDir(sourceDir: string, releaseDir: string, gitDir: string = sourceDir): Promise<PreparedWorkDir> {
  const source = path.resolve(sourceDir);
  // A retried task starts from a clean copy.
  await fs.rm(releaseDir, { recursive: true, force: true });
  await fs.cp(source, releaseDir, {
    recursive: true,
    verbatimSymlinks: true,
    filter: (src) => !SKIPPED_SOURCE_ENTRIES.has(path.basename(src)) || src === source,
  });
  return { dir: releaseDir, commit: await gitCommit(gitDir) };
}

async function gitCommit(dir: string): Promise<string | null> {
  try {
    // safe.directory: the agent often runs as root over a checkout owned by someone else.
    const { stdout } = await promisify(execFile)('git', ['-c', 'safe.directory=*', '-C', dir, 'rev-parse', 'HEAD'], {
      timeout: 10_000,
    });
    const commit = stdout.trim();
    return /^[0-9a-f]{40,64}$/.test(commit) ? commit : null;
  } catch {
    return null;
  }
}

export type SandboxLimits = Omit<SandboxOptions, 'id'>;

export interface BuildOptions {
  /** Build id; names the build's cgroup. */
  id: string;
  workDir: string;
  commands: string[];
  env: Record<string, string>;
  secrets?: Record<string, string>;
  sandbox: SandboxLimits;
  /** Directory put first on PATH: the spec's runtime (agent/runtimes.ts found it). */
  pathFirst?: string;
  logFile: string;
  onLine?: (line: string, stream: Stream) => void;
  signal?: AbortSignal;
}

export type BuildResult =
  | { ok: true; steps: number; warning: string | null }
  | {
      ok: false;
      error: ForgeError;
      /** 1-based index of the failed command; 0 when the build never started a command. */
      step: number;
      exit: ExitInfo | null;
      lastLines: string[];
      warning: string | null;
    };

export const BUILD_TAIL_LINES = 20;

/** Throws only E_ISOLATION_UNAVAILABLE (production without isolation); every other failure is a result. */
export async function runBuild(options: BuildOptions): Promise<BuildResult> {
  // Builds run in the same boundary as the app, with egress (they fetch packages) and no port.
  const sandbox = await createSandbox({ ...options.sandbox, workDir: options.workDir, id: options.id });
  const log = new RotatingLog(options.logFile);
  const lines = new LineTail(200, options.onLine);
  const hostPath = options.pathFirst === undefined ? process.env.PATH : [options.pathFirst, process.env.PATH ?? FALLBACK_PATH].join(':');
  const env = buildEnv({ hostPath, home: options.workDir, env: options.env, secrets: options.secrets });
  const aborted = (): boolean => options.signal?.aborted === true;
  const onAbort = () => void sandbox.destroy(0);
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    for (const [index, command] of options.commands.entries()) {
      const step = index + 1;
      if (aborted()) return failure(step, null, 'build cancelled');
      let proc;
      try {
        proc = await sandbox.spawn(command, { cwd: options.workDir, env, recentLines: () => lines.tail(BUILD_TAIL_LINES) });
      } catch (err) {
        // Only a cancel racing this step destroys the sandbox under us.
        return failure(step, null, aborted() ? 'build cancelled' : `build step ${step} could not start: ${(err as Error).message}`);
      }
      captureOutput(proc.child, log, lines);
      const exit = await proc.exited;
      lines.flush();
      if (aborted()) return failure(step, exit, 'build cancelled');
      if (exit.code !== 0 || exit.signal !== null) {
        return failure(step, exit, `build step ${step}/${options.commands.length} failed: ${exit.message}`);
      }
    }
    return { ok: true, steps: options.commands.length, warning: sandbox.warning };
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    await sandbox.destroy(0);
    log.close();
  }

  function failure(step: number, exit: ExitInfo | null, message: string): BuildResult {
    const lastLines = lines.tail(BUILD_TAIL_LINES);
    const error = new ForgeError('E_BUILD_FAILED', message, {
      details: { step, command: options.commands[step - 1], exit, lastLines },
    });
    return { ok: false, error, step, exit, lastLines, warning: sandbox.warning };
  }
}
