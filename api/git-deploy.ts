// The background half of a push: shallow-clone the commit, load its specs
// strictly, apply them as the set `git:<repo>@<branch>`, and follow the services'
// statuses to move the deployment row pending → building → deploying → running
// or failed. A bad spec fails the deployment before anything is written.

import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { toForgeError } from '../errors/index.ts';
import { formatProblem, loadSpecs, specHash } from '../specs/index.ts';
import { bundleSpecs } from '../specs/bundle.ts';
import type { DeploymentRow } from '../store/index.ts';
import type { ApiContext } from './context.ts';
import { gitProtocol } from './git-url.ts';
import { decideCommit, type PushTarget } from './webhook-decide.ts';
import { applySpecs } from './routes/apply.ts';
import { pinSpecs } from './image-pins.ts';

const run = promisify(execFile);

export interface GitDeployOptions {
  /** Where checkouts live (kept: source-mode services build from them). */
  checkoutsDir: string;
  /** How long to follow the services' statuses before calling the deployment failed. */
  waitMs?: number;
  pollMs?: number;
  gitTimeoutMs?: number;
}

export type GitDeployer = (deployment: DeploymentRow, target: PushTarget) => Promise<void>;

const SPEC_LOCATIONS = ['forge.yaml', 'forge.yml', 'forge'];
const MAX_MESSAGE = 4_000;

function slug(text: string): string {
  return text.replace(/[^A-Za-z0-9._-]+/g, '_');
}

async function git(args: string[], cwd: string, timeoutMs: number, protocol: string): Promise<string> {
  const { stdout } = await run('git', args, {
    cwd, timeout: timeoutMs, maxBuffer: 1 << 20,
    // Only the transport FORGE_GIT_URL_TEMPLATE names; no redirects to other schemes, no submodule tricks.
    env: { ...process.env, GIT_TERMINAL_PROMPT: '0', GIT_CONFIG_NOSYSTEM: '1', GIT_ALLOW_PROTOCOL: protocol },
  });
  return stdout.trim();
}

async function succeeds(args: string[], cwd: string, timeoutMs: number, protocol: string): Promise<boolean> {
  try {
    await git(args, cwd, timeoutMs, protocol);
    return true;
  } catch {
    return false;
  }
}

/**
 * Clones `branch` shallowly and returns its head. When the pushed commit is not the head, the
 * branch's history is fetched so its ancestry (and that of what the branch runs) can be checked.
 */
export async function checkout(target: PushTarget, dir: string, timeoutMs: number): Promise<{ head: string; onBranch: boolean }> {
  const protocol = gitProtocol(target.cloneUrl);
  await rm(dir, { recursive: true, force: true });
  await mkdir(join(dir, '..'), { recursive: true });
  await git(['clone', '--quiet', '--depth', '1', '--branch', target.branch, '--', target.cloneUrl, dir], join(dir, '..'), timeoutMs, protocol);
  const head = await git(['rev-parse', 'HEAD'], dir, timeoutMs, protocol);
  if (head === target.sha) return { head, onBranch: true };
  // A local path ignores --depth and clones everything; only a shallow clone needs deepening.
  const shallow = (await git(['rev-parse', '--is-shallow-repository'], dir, timeoutMs, protocol)) === 'true';
  if (shallow) await git(['fetch', '--quiet', '--unshallow', 'origin', `refs/heads/${target.branch}`], dir, timeoutMs, protocol);
  // Only commits reachable from the branch were fetched; any other SHA (a fork's, a deleted branch's) is absent.
  const onBranch = await succeeds(['merge-base', '--is-ancestor', target.sha, head], dir, timeoutMs, protocol);
  if (onBranch) await git(['checkout', '--quiet', '--detach', target.sha], dir, timeoutMs, protocol);
  return { head, onBranch };
}

function capped(text: string): string {
  return text.length <= MAX_MESSAGE ? text : `${text.slice(0, MAX_MESSAGE - 1)}…`;
}

export function createGitDeployer(ctx: ApiContext, options: GitDeployOptions): GitDeployer {
  const waitMs = options.waitMs ?? 10 * 60_000;
  const pollMs = options.pollMs ?? 500;
  const gitTimeoutMs = options.gitTimeoutMs ?? 120_000;
  const { store } = ctx;

  // One deployment per branch at a time between "what does the branch run" and "apply": two
  // pushes racing must not let the older one land last.
  const branchLocks = new Map<string, Promise<unknown>>();
  function serialized<T>(key: string, work: () => Promise<T>): Promise<T> {
    const previous = branchLocks.get(key) ?? Promise.resolve();
    const next = previous.then(work, work);
    const settled = next.catch(() => undefined);
    branchLocks.set(key, settled);
    void settled.then(() => { if (branchLocks.get(key) === settled) branchLocks.delete(key); });
    return next;
  }

  return async function deploy(deployment, target) {
    const fail = (message: string) => store.deployments.setState(deployment.id, 'failed', capped(message));
    try {
      const applied = await serialized(`${target.repo}@${target.branch}`, async () => {
        store.deployments.setState(deployment.id, 'building', `cloning ${target.repo}@${target.sha.slice(0, 12)}`);
        const dir = join(options.checkoutsDir, slug(target.repo), target.sha);
        let fetched: { head: string; onBranch: boolean };
        try {
          fetched = await checkout(target, dir, gitTimeoutMs);
        } catch (error) {
          // git's stderr names the URL and ref only; it is trimmed to its last line.
          const detail = String((error as { stderr?: unknown }).stderr ?? '').trim().split('\n').pop() ?? '';
          fail(`git clone of ${target.repo}@${target.branch} at ${target.sha} failed${detail ? `: ${detail}` : ''}`);
          return null;
        }
        const decision = await decide(target, fetched, dir);
        if (decision.kind === 'refuse') {
          fail(decision.reason);
          return null;
        }
        const paths = SPEC_LOCATIONS.filter((p) => existsSync(join(dir, p)));
        if (paths.length === 0) {
          fail(`no forge.yaml or forge/ folder in ${target.repo} at ${target.sha}`);
          return null;
        }
        const loaded = await loadSpecs(paths, { cwd: dir });
        if (!loaded.ok) {
          fail(`invalid specs in ${target.repo}@${target.sha.slice(0, 12)}:\n${loaded.problems.map(formatProblem).join('\n')}`);
          return null;
        }
        store.deployments.setState(deployment.id, 'deploying', `applying ${loaded.specs.length} service(s)`);
        const source = `git:${target.repo}@${target.branch}`;
        // Agents never read this checkout: its source folders ship to them as bundles.
        const bundles = ctx.bundles;
        const specs = bundles
          ? (await bundleSpecs(loaded.specs.map((s) => s.spec), (bundle) => bundles.putPacked(bundle), { limitBytes: bundles.limitBytes }))
            .map((spec, i) => ({ ...loaded.specs[i]!, spec, hash: specHash(spec) }))
          : loaded.specs;
        // Image tags pinned to their digests like every other write path (api/image-pins.ts).
        const plan = applySpecs(ctx, source, await pinSpecs(ctx, specs), { prune: true }, `webhook:${deployment.deliveryId}`);
        store.deployments.markApplied(deployment.id);
        return { names: loaded.specs.map((s) => s.spec.name), changed: plan.changed.length };
      });
      if (applied) await follow(ctx, deployment.id, applied.names, applied.changed, waitMs, pollMs);
    } catch (error) {
      const forge = toForgeError(error);
      fail(`${forge.code}: ${forge.message}`);
    }
  };

  async function decide(target: PushTarget, fetched: { head: string; onBranch: boolean }, dir: string) {
    const deployed = store.deployments.lastApplied(target.repo, target.branch)?.sha ?? null;
    const protocol = gitProtocol(target.cloneUrl);
    const ancestor = (a: string, b: string) => succeeds(['merge-base', '--is-ancestor', a, b], dir, gitTimeoutMs, protocol);
    const needsHistory = target.sha !== fetched.head && fetched.onBranch && deployed !== null && deployed !== target.sha;
    return decideCommit({
      repo: target.repo, branch: target.branch, sha: target.sha, head: fetched.head, onBranch: fetched.onBranch, deployed,
      deployedIsAncestor: needsHistory ? await ancestor(deployed, target.sha) : false,
      olderThanDeployed: needsHistory ? await ancestor(target.sha, deployed) : false,
    });
  }
}

/** Polls the statuses of the applied services until all run at their generation, one fails, or time runs out. */
async function follow(ctx: ApiContext, id: string, names: readonly string[], changed: number, waitMs: number, pollMs: number): Promise<void> {
  const { store } = ctx;
  const deadline = Date.now() + waitMs;
  for (;;) {
    let running = 0;
    for (const name of names) {
      const row = store.services.get(name);
      const status = store.status.get(name);
      if (!row || !status) continue;
      if (status.phase === 'failed' && status.lastError) {
        store.deployments.setState(id, 'failed', capped(`${name}: ${status.lastError.code}: ${status.lastError.message}`));
        return;
      }
      const settled = row.state === 'stopped' ? 'stopped' : 'running';
      if (status.phase === settled && status.observedGeneration >= row.generation) running += 1;
    }
    if (running === names.length) {
      store.deployments.setState(id, 'running', `${names.length} service(s) running (${changed} changed)`);
      return;
    }
    if (Date.now() >= deadline) {
      store.deployments.setState(id, 'failed', `timed out after ${Math.round(waitMs / 1000)}s: ${running}/${names.length} service(s) running`);
      return;
    }
    await sleep(pollMs);
  }
}
