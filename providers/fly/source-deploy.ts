// Source deploys on Fly (a directory with a Dockerfile), provider side. The API
// prepares: the app shell exists and a short-lived deploy token scoped to that
// app is minted. The CLI builds: `flyctl deploy --build-only` on Fly's remote
// builder pushes `registry.fly.io/<app>:<label>`; the API is then told the image
// and the reconciler launches machines from it like any image deploy.
// A failed build changes nothing remote but the app shell, so running again
// resumes: the app already exists and is adopted, never an error.

import { spawn as nodeSpawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import { ForgeError } from '../../errors/index.ts';
import { flyImageRef } from './names.ts';

/** Deploy tokens for source builds live this long: long enough for a remote build, short enough to be harmless if leaked. */
export const SOURCE_DEPLOY_TOKEN_TTL_SECONDS = 20 * 60;

/** Docker tag grammar: what `--image-label` may be. */
const LABEL_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

export interface DeployTokenMinter {
  mintDeployToken(name: string, ttlSeconds?: number): Promise<{ app: string; token: string; expiresAt: number }>;
}

export interface SourceDeployPlan {
  app: string;
  /** Fly deploy token scoped to `app`; hand it only to the build, never log it. */
  token: string;
  expiresAt: number;
  label: string;
  /** The image the build will push; the spec's `image` once the build succeeded. */
  imageRef: string;
}

/** `deployment-YYYYMMDDhhmmss` (UTC), flyctl's own default shape, from the given clock. */
export function defaultImageLabel(nowMs: number): string {
  const iso = new Date(nowMs).toISOString();
  return `deployment-${iso.slice(0, 19).replace(/[-:T]/g, '')}`;
}

function checkLabel(label: string): string {
  if (!LABEL_RE.test(label)) {
    throw new ForgeError('E_USAGE', `image label ${JSON.stringify(label)} is not a valid Docker tag (letters, digits, _ . -, at most 128, not starting with . or -)`);
  }
  return label;
}

/**
 * Makes sure the service's Fly app exists (creating it, with its IPs, when it
 * does not; adopting it when an earlier, failed attempt made it) and mints a
 * 20-minute deploy token scoped to it.
 */
export async function prepareSourceDeploy(
  minter: DeployTokenMinter,
  name: string,
  opts: { label?: string; now?: () => number; ttlSeconds?: number } = {},
): Promise<SourceDeployPlan> {
  const label = checkLabel(opts.label ?? defaultImageLabel((opts.now ?? Date.now)()));
  const { app, token, expiresAt } = await minter.mintDeployToken(name, opts.ttlSeconds ?? SOURCE_DEPLOY_TOKEN_TTL_SECONDS);
  return { app, token, expiresAt, label, imageRef: flyImageRef(app, label) };
}

/** The slice of a child process the build runner reads. */
export interface ChildLike {
  stdout: Readable | null;
  stderr: Readable | null;
  on(event: 'error', listener: (err: Error) => void): unknown;
  on(event: 'close', listener: (code: number | null, signal: NodeJS.Signals | null) => void): unknown;
  kill(signal?: NodeJS.Signals): unknown;
}

export type SpawnFn = (command: string, args: readonly string[], options: { cwd: string; env: NodeJS.ProcessEnv; stdio: ['ignore', 'pipe', 'pipe'] }) => ChildLike;

export interface FlyctlBuildOptions {
  /** The source directory (holding the Dockerfile). */
  dir: string;
  app: string;
  token: string;
  label: string;
  /** Path or name of the flyctl binary. Default `flyctl`. */
  flyctl?: string;
  /** Dockerfile path relative to `dir`, when not `Dockerfile`. */
  dockerfile?: string;
  /** Environment the build inherits (PATH, HOME, proxies); Fly tokens in it are replaced. Default process.env. */
  env?: NodeJS.ProcessEnv;
  spawn?: SpawnFn;
  /** Each chunk of build output as it arrives (the CLI shows progress), token already masked. */
  onOutput?: (text: string) => void;
  signal?: AbortSignal;
}

export interface FlyctlBuildResult {
  imageRef: string;
}

const INSTALL_HINT = 'install it with `curl -L https://fly.io/install.sh | sh` (or `brew install flyctl`), or point FLYCTL at the binary';
const OUTPUT_TAIL = 4_000;

/** The argv and env of the build: pure, so tests pin exactly what runs. */
export function flyctlBuildCommand(o: Pick<FlyctlBuildOptions, 'dir' | 'app' | 'token' | 'label' | 'dockerfile' | 'env'>): { args: string[]; env: NodeJS.ProcessEnv } {
  checkLabel(o.label);
  const args = ['deploy', o.dir, '--app', o.app, '--remote-only', '--build-only', '--image-label', o.label];
  if (o.dockerfile) args.push('--dockerfile', o.dockerfile);
  // Only the scoped deploy token: an operator's broader token in the environment must not be used instead.
  const { FLY_ACCESS_TOKEN: _access, FLY_API_TOKEN: _api, ...rest } = o.env ?? process.env;
  return { args, env: { ...rest, FLY_API_TOKEN: o.token, NO_COLOR: '1' } };
}

/** Fly prints the pushed image as `image: registry.fly.io/app:label`; the computed ref when it does not. */
export function imageFromOutput(output: string, fallback: string): string {
  const found = [...output.matchAll(/\bimage:\s*(registry\.fly\.io\/\S+)/g)].at(-1)?.[1];
  return found ?? fallback;
}

export function runFlyctlBuild(o: FlyctlBuildOptions): Promise<FlyctlBuildResult> {
  const flyctl = o.flyctl ?? 'flyctl';
  const { args, env } = flyctlBuildCommand(o);
  const expected = flyImageRef(o.app, o.label);
  const mask = (text: string) => (o.token ? text.split(o.token).join('[token]') : text);
  const spawn = o.spawn ?? (nodeSpawn as unknown as SpawnFn);

  return new Promise<FlyctlBuildResult>((resolve, reject) => {
    let output = '';
    let settled = false;
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      o.signal?.removeEventListener('abort', onAbort);
      fn();
    };
    const missing = (cause: unknown) =>
      new ForgeError('E_USAGE', `flyctl was not found (tried ${JSON.stringify(flyctl)}); source deploys to Fly build with it: ${INSTALL_HINT}`, { cause });

    let child: ChildLike;
    try {
      child = spawn(flyctl, args, { cwd: o.dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      finish(() => reject((err as { code?: unknown }).code === 'ENOENT' ? missing(err) : new ForgeError('E_BUILD_FAILED', `could not start flyctl: ${mask(String(err))}`, { cause: err })));
      return;
    }
    const onAbort = () => child.kill('SIGTERM');
    o.signal?.addEventListener('abort', onAbort, { once: true });

    const collect = (chunk: Buffer | string) => {
      const text = mask(chunk.toString());
      output = (output + text).slice(-OUTPUT_TAIL * 4);
      o.onOutput?.(text);
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    child.on('error', (err) => {
      const code = (err as { code?: unknown }).code;
      finish(() => reject(code === 'ENOENT' ? missing(err) : new ForgeError('E_BUILD_FAILED', `flyctl failed to run: ${mask(err.message)}`, { cause: err })));
    });
    child.on('close', (code, signal) => {
      if (code === 0) return finish(() => resolve({ imageRef: imageFromOutput(output, expected) }));
      const why = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      const tail = output.trim().slice(-OUTPUT_TAIL);
      finish(() =>
        reject(
          new ForgeError('E_BUILD_FAILED', `flyctl deploy --build-only for ${o.app} ${why}; run the deploy again to resume (the app is kept)${tail ? `\n${tail}` : ''}`, {
            details: { app: o.app, label: o.label, exitCode: code, signal },
          }),
        ),
      );
    });
  });
}
