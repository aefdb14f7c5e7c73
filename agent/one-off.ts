// One-off commands on an agent (a release command, `forge run`): the release's build
// output is made in a fresh work dir (the bundle by digest, its build commands), then
// the command runs there once, in its own sandbox (same limits, identity and network
// boundary as the app: crun, cgroup, own network namespace), with the service's env
// and secrets and a timeout. Everything it made (sandbox, cgroup, namespace, work dir)
// is removed before the result goes back. Nothing here retries: a one-off runs once.

import { promises as fs } from 'node:fs';
import { constants } from 'node:os';
import path from 'node:path';
import { ForgeError, toForgeError } from '../errors/index.ts';
import type { OneOffPayload, ResultRequest, ShippedLine } from '../schemas/agent-protocol.ts';
import type { ServiceSpec } from '../specs/types.ts';
import { isBundleDigest } from '../specs/bundle.ts';
import { findRuntime, type AgentRuntime } from '../specs/runtimes.ts';
import { createMasker } from './runner/mask.ts';
import { prepareWorkDir, runBuild, type SandboxLimits } from './runner/build.ts';
import { sourceForRevision } from './runner/source-cache.ts';
import { prepareBuildCache } from './runner/build-cache.ts';
import { chownTree, type SandboxIdentity } from './sandbox/identity.ts';
import type { ExitInfo } from './sandbox/index.ts';

export interface OneOffDeps {
  dataDir: string;
  runtimes: readonly AgentRuntime[];
  identityOf(service: string): Promise<SandboxIdentity>;
  /** The sandbox limits of `spec` for this identity (no shared network: the one-off gets its own). */
  limits(spec: ServiceSpec, identity: SandboxIdentity): SandboxLimits;
  bundleSource?: (digest: string, signal?: AbortSignal) => Promise<string>;
  ship?(line: ShippedLine): void;
}

export interface OneOffIo {
  secrets: Record<string, string>;
  onLine(line: string): void;
  /** The task's lease was lost or the agent stops: the command is killed. */
  signal: AbortSignal;
}

const TAIL = 20;
/** Progress lines of the build (not the command's own output) start with this. */
export const BUILD_MARK = '[build] ';

export async function runOneOff(deps: OneOffDeps, payload: OneOffPayload, io: OneOffIo): Promise<ResultRequest> {
  const { spec } = payload;
  const dir = path.join(deps.dataDir, 'one-offs', payload.instanceId.replace(/[^A-Za-z0-9_.-]/g, '_'));
  const mask = createMasker(io.secrets);
  const ship = (build: string | undefined) => (line: string, stream: 'stdout' | 'stderr') =>
    deps.ship?.({ instance: payload.instanceId, ...(build === undefined ? {} : { build }), stream, time: Date.now(), line: mask(line).slice(0, 8_192) });
  const fail = (error: ForgeError, lastLines: readonly string[] = []): ResultRequest =>
    ({ ok: false, result: { code: error.code, message: mask(error.message).slice(0, 8_000), lastLines: lastLines.map(mask), exitCode: null } });
  try {
    if (spec.sourceDir === undefined) {
      return fail(new ForgeError('E_BUILD_FAILED', `${spec.name}: agents run one-offs of source-mode services only`, { terminal: true }));
    }
    const bundled = isBundleDigest(spec.revision) && deps.bundleSource !== undefined;
    const source = bundled
      ? await deps.bundleSource!(spec.revision!, io.signal)
      : await sourceForRevision(path.join(deps.dataDir, 'sources'), spec.sourceDir, spec.revision);
    const identity = await deps.identityOf(spec.name);
    const prepared = await prepareWorkDir(source, path.join(dir, 'app'), bundled ? source : spec.sourceDir);
    const cache = await prepareBuildCache(path.join(deps.dataDir, 'build-cache'), spec.name, prepared.dir);
    await chownTree(prepared.dir, identity.hostUid, identity.hostGid);
    await fs.lchown(cache.dir, identity.hostUid, identity.hostGid);
    for (const d of cache.dirs) await chownTree(d, identity.hostUid, identity.hostGid);
    const runtime = spec.runtime === undefined ? undefined : findRuntime(spec.runtime, deps.runtimes);
    const pathFirst = runtime ? { pathFirst: path.dirname(runtime.path) } : {};
    io.onLine(`${BUILD_MARK}building release ${payload.hash.slice(0, 12)} of ${spec.name} for a one-off`);
    const build = await runBuild({
      ...pathFirst, id: `oneoff-build-${payload.instanceId}`, workDir: prepared.dir, commands: spec.build?.commands ?? [],
      env: { ...cache.env, ...spec.env }, secrets: io.secrets, sandbox: { ...deps.limits(spec, identity), cacheDir: cache.dir },
      logFile: path.join(dir, 'logs', 'build.log'), onLine: (line, stream) => { io.onLine(`${BUILD_MARK}${mask(line)}`); ship(`oneoff-build-${payload.instanceId}`)(line, stream); }, signal: io.signal,
    });
    if (!build.ok) return fail(build.error, build.lastLines);

    // The command itself: one step in a fresh sandbox, killed at its timeout.
    const timeout = AbortSignal.timeout(payload.timeoutMs);
    const signal = AbortSignal.any([io.signal, timeout]);
    const out = await runBuild({
      ...pathFirst, id: `oneoff-${payload.instanceId}`, workDir: prepared.dir, commands: [payload.command],
      env: { ...spec.env, PORT: String(spec.port) }, secrets: io.secrets, sandbox: deps.limits(spec, identity),
      logFile: path.join(dir, 'logs', 'command.log'), onLine: (line, stream) => { io.onLine(mask(line)); ship(undefined)(line, stream); }, signal,
    });
    if (out.ok) return { ok: true, result: { message: 'exited with code 0', exitCode: 0, lastLines: [] } };
    const lastLines = out.lastLines.slice(-TAIL).map(mask);
    if (timeout.aborted && !io.signal.aborted) {
      return { ok: false, result: { code: 'E_TIMEOUT', message: `killed after its timeout of ${payload.timeoutMs} ms`, exitCode: null, timedOut: true, lastLines } };
    }
    if (out.exit === null) return fail(out.error, out.lastLines);
    const code = exitCodeOf(out.exit);
    return { ok: false, result: { code: 'E_COMMAND_FAILED', message: `exited with code ${code}`, exitCode: code, lastLines } };
  } catch (thrown) {
    return fail(toForgeError(thrown, 'E_PROVIDER'));
  } finally {
    await fs.rm(dir, { recursive: true, force: true }).catch(() => undefined);
  }
}

function exitCodeOf(exit: ExitInfo): number {
  if (exit.code !== null) return exit.code;
  const n = exit.signal === null ? undefined : constants.signals[exit.signal];
  return n === undefined ? 1 : 128 + n;
}
