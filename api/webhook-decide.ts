// GitHub webhook decisions as pure functions: is the signature right, and what
// does a verified delivery ask for. The route only does I/O around these.

import { createHmac, timingSafeEqual } from 'node:crypto';

/** `X-Hub-Signature-256: sha256=<hex>` over the raw body, compared in constant time. */
export function verifyGithubSignature(secret: string, rawBody: Buffer, header: string | undefined): boolean {
  if (typeof header !== 'string' || !/^sha256=[0-9a-f]{64}$/i.test(header)) return false;
  const expected = createHmac('sha256', secret).update(rawBody).digest();
  const given = Buffer.from(header.slice('sha256='.length), 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

export interface PushTarget {
  repo: string;
  branch: string;
  sha: string;
  cloneUrl: string;
  message: string | null;
}

export type PushDecision =
  | { kind: 'deploy'; target: PushTarget }
  /** A legitimate delivery Forge does not act on (tag push, branch deletion): 200. */
  | { kind: 'ignore'; reason: string }
  /** Not allowed by this control plane's configuration: 403. */
  | { kind: 'refuse'; reason: string }
  /** Malformed: 400. */
  | { kind: 'invalid'; reason: string };

export interface PushPolicy {
  allowedRepos: readonly string[];
  allowedBranches: readonly string[];
}

const SHA = /^[0-9a-f]{40}$/;
const ZERO_SHA = '0'.repeat(40);

function record(value: unknown): Record<string, unknown> | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

export function decidePush(payload: unknown, policy: PushPolicy): PushDecision {
  const body = record(payload);
  const repository = record(body?.repository);
  const repo = repository?.full_name;
  const ref = body?.ref;
  const after = body?.after;
  const cloneUrl = repository?.clone_url;
  if (typeof repo !== 'string' || typeof ref !== 'string' || typeof cloneUrl !== 'string') {
    return { kind: 'invalid', reason: 'push payload lacks repository.full_name, repository.clone_url or ref' };
  }
  if (!policy.allowedRepos.some((allowed) => allowed.toLowerCase() === repo.toLowerCase())) {
    return { kind: 'refuse', reason: `repository ${repo} is not in FORGE_ALLOWED_REPOS` };
  }
  if (!ref.startsWith('refs/heads/')) return { kind: 'ignore', reason: `${ref} is not a branch` };
  const branch = ref.slice('refs/heads/'.length);
  if (!policy.allowedBranches.includes(branch)) {
    return { kind: 'refuse', reason: `branch ${branch} is not in FORGE_ALLOWED_BRANCHES` };
  }
  if (typeof after !== 'string' || !SHA.test(after)) return { kind: 'invalid', reason: '`after` is not a 40-hex commit SHA' };
  if (after === ZERO_SHA || body?.deleted === true) return { kind: 'ignore', reason: `branch ${branch} was deleted` };
  const head = record(body?.head_commit);
  const message = typeof head?.message === 'string' ? head.message.split('\n')[0]!.slice(0, 200) : null;
  return { kind: 'deploy', target: { repo, branch, sha: after, cloneUrl, message } };
}

/** GitHub's delivery ids are GUIDs; anything printable and short is accepted as a dedup key. */
export function validDeliveryId(value: unknown): value is string {
  return typeof value === 'string' && /^[A-Za-z0-9._:-]{1,100}$/.test(value);
}
