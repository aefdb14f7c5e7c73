// Pulling images with skopeo into a local OCI layout.
//
// Why skopeo + umoci and not a registry client written here: the registry protocol
// has many corners that a maintained tool already gets right — token auth flows
// (Bearer challenges, scopes), manifest lists and platform selection, Docker v2 vs
// OCI media types, content verification of every blob, resumable retries, mirrors
// and TLS settings — and unpacking layers safely (whiteouts, hard links, device
// files, paths escaping the root, uid/gid mapping onto the sandbox's range) is where
// hand-written extractors have had CVEs. skopeo and umoci are Debian packages, run
// without a daemon, and write the standard OCI layout that buildah also reads.
//
// Credentials reach skopeo only through --authfile: a 0600 file in a 0700 directory
// of its own, deleted when the call ends. Never argv (every local user sees argv in
// `ps`), never the environment of a process that outlives the call.

import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { ForgeError } from '../../errors/index.ts';
import { pullError } from './errors.ts';
import { formatReference, isLoopbackHost, type ImageReference } from '../../specs/image-ref.ts';

export interface RegistryCredential {
  username: string;
  password: string;
}

const PULL_TIMEOUT_MS = 10 * 60_000;
const INSPECT_TIMEOUT_MS = 60_000;

interface SkopeoResult {
  code: number;
  stdout: string;
  stderr: string;
  /** Killed at its timeout. */
  timedOut: boolean;
}

function runSkopeo(args: string[], timeoutMs: number, signal?: AbortSignal): Promise<SkopeoResult> {
  return new Promise((resolve) => {
    execFile('skopeo', args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/nonexistent' }, ...(signal ? { signal } : {}) },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof (error as NodeJS.ErrnoException).code === 'number' ? (error as unknown as { code: number }).code : 1;
        const missing = (error as NodeJS.ErrnoException | null)?.code === 'ENOENT';
        const timedOut = error !== null && (error as { killed?: boolean }).killed === true && signal?.aborted !== true;
        resolve({ code, stdout, stderr: missing ? 'skopeo is not installed on this agent (apt-get install skopeo)' : stderr, timedOut });
      });
  });
}

/** Runs `use` with an --authfile argument list for `ref`'s registry (none without a credential); the file is gone afterwards. */
export async function withAuthFile<T>(privateDir: string, ref: ImageReference, credential: RegistryCredential | undefined, use: (args: string[]) => Promise<T>): Promise<T> {
  if (credential === undefined) return use([]);
  await fs.mkdir(privateDir, { recursive: true, mode: 0o700 });
  await fs.chmod(privateDir, 0o700);
  const dir = await fs.mkdtemp(path.join(privateDir, 'auth-'));
  const file = path.join(dir, 'auth.json');
  try {
    const auth = Buffer.from(`${credential.username}:${credential.password}`).toString('base64');
    await fs.writeFile(file, JSON.stringify({ auths: { [ref.host]: { auth } } }), { mode: 0o600 });
    return await use(['--authfile', file]);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

function tlsArgs(flag: string, ref: ImageReference): string[] {
  return isLoopbackHost(ref.host) ? [`--${flag}=false`] : [];
}

export interface PullContext {
  /** 0700 directory for short-lived auth files. */
  privateDir: string;
  credential?: RegistryCredential;
  signal?: AbortSignal;
}

/**
 * The manifest digest `ref` names now (its tag resolved). Throws a mapped ForgeError.
 * `timeoutMs`: how long the registry may take (the control plane's write-time pinning
 * bounds it well under a client's reply timeout; an agent about to pull waits longer).
 */
export async function resolveDigest(ref: ImageReference, context: PullContext & { timeoutMs?: number }): Promise<string> {
  if (ref.digest !== undefined) return ref.digest;
  const shown = formatReference(ref);
  const timeoutMs = context.timeoutMs ?? INSPECT_TIMEOUT_MS;
  const result = await withAuthFile(context.privateDir, ref, context.credential, (auth) =>
    runSkopeo(['inspect', ...auth, ...tlsArgs('tls-verify', ref), '--format', '{{.Digest}}', `docker://${shown}`], timeoutMs, context.signal));
  if (result.timedOut) {
    throw new ForgeError('E_REGISTRY_UNAVAILABLE', `image ${shown}: its registry did not answer within ${Math.round(timeoutMs / 100) / 10} s`, { details: { image: shown } });
  }
  const digest = result.stdout.trim();
  if (result.code !== 0 || !/^sha256:[0-9a-f]{64}$/.test(digest)) throw pullError(shown, result.stderr, secretsOf(context));
  return digest;
}

/** Copies `ref@digest` into the OCI layout at `layout`, tagged with the digest's hex. Blobs already there are not fetched again. */
export async function pullInto(layout: string, ref: ImageReference, digest: string, context: PullContext): Promise<void> {
  const source = formatReference(ref, digest);
  const result = await withAuthFile(context.privateDir, ref, context.credential, (auth) =>
    runSkopeo(['copy', '--quiet', ...(auth.length > 0 ? ['--src-authfile', auth[1]!] : []), ...tlsArgs('src-tls-verify', ref),
      `docker://${source}`, `oci:${layout}:${layoutTag(digest)}`], PULL_TIMEOUT_MS, context.signal));
  if (result.code !== 0) throw pullError(source, result.stderr, secretsOf(context));
}

/** The tag an image is kept under in the layout: its manifest digest (tags may not hold ':'). */
export function layoutTag(digest: string): string {
  return digest.replace(/^sha256:/, '');
}

function secretsOf(context: PullContext): string[] {
  return context.credential === undefined ? [] : [context.credential.password, Buffer.from(`${context.credential.username}:${context.credential.password}`).toString('base64')];
}
