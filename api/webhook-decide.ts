// GitHub webhook decisions as pure functions: is the signature right, and what
// does a verified delivery ask for. The route only does I/O around these.

import { createHmac, timingSafeEqual } from 'node:crypto';
import { cloneUrlFor, DEFAULT_GIT_URL_TEMPLATE } from './git-url.ts';

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
  /** FORGE_GIT_URL_TEMPLATE (checked at start-up); the payload's clone_url is never used. */
  gitUrlTemplate?: string;
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
  if (typeof repo !== 'string' || typeof ref !== 'string') {
    return { kind: 'invalid', reason: 'push payload lacks repository.full_name or ref' };
  }
  // GitHub names are case-insensitive; from here on the allowlist's spelling is the one used, so
  // `ACME/Shop` and `acme/shop` are one source set and one deployment history.
  const allowed = policy.allowedRepos.find((entry) => entry.toLowerCase() === repo.toLowerCase());
  if (allowed === undefined) return { kind: 'refuse', reason: `repository ${repo} is not in FORGE_ALLOWED_REPOS` };
  const cloneUrl = cloneUrlFor(policy.gitUrlTemplate ?? DEFAULT_GIT_URL_TEMPLATE, allowed);
  if (cloneUrl === null) return { kind: 'refuse', reason: `FORGE_ALLOWED_REPOS entry ${allowed} is not a plain owner/repo name` };
  if (!ref.startsWith('refs/heads/')) return { kind: 'ignore', reason: `${ref} is not a branch` };
  const branch = ref.slice('refs/heads/'.length);
  if (!policy.allowedBranches.includes(branch)) {
    return { kind: 'refuse', reason: `branch ${branch} is not in FORGE_ALLOWED_BRANCHES` };
  }
  if (typeof after !== 'string' || !SHA.test(after)) return { kind: 'invalid', reason: '`after` is not a 40-hex commit SHA' };
  if (after === ZERO_SHA || body?.deleted === true) return { kind: 'ignore', reason: `branch ${branch} was deleted` };
  const head = record(body?.head_commit);
  const message = typeof head?.message === 'string' ? head.message.split('\n')[0]!.slice(0, 200) : null;
  return { kind: 'deploy', target: { repo: allowed, branch, sha: after, cloneUrl, message } };
}

/** GitHub's delivery ids are GUIDs; anything printable and short is accepted as a dedup key. */
export function validDeliveryId(value: unknown): value is string {
  return typeof value === 'string' && /^[A-Za-z0-9._:-]{1,100}$/.test(value);
}

export type AncestryDecision = { kind: 'deploy' } | { kind: 'refuse'; reason: string };

/** What git said about a pushed commit, relative to its branch and to what that branch runs. */
export interface CommitFacts {
  repo: string;
  branch: string;
  sha: string;
  /** The branch's head when it was fetched just now. */
  head: string;
  /** The pushed commit is the head or one of its ancestors. */
  onBranch: boolean;
  /** The commit last applied from this branch by a webhook, if any. */
  deployed: string | null;
  /** `deployed` is an ancestor of `sha` (false when git cannot tell, e.g. it was force-pushed away). */
  deployedIsAncestor: boolean;
  /** `sha` is an ancestor of `deployed` (a replay of an older push). */
  olderThanDeployed: boolean;
}

/**
 * A signed push body can be replayed under a fresh delivery id, so a webhook deploys a commit
 * only if it is the branch's head now, or lies on the branch after what it runs. Moving a
 * branch's deployment backwards is an operator's explicit rollback, never a webhook's.
 */
export function decideCommit(facts: CommitFacts): AncestryDecision {
  const short = (sha: string) => sha.slice(0, 12);
  const where = `${facts.repo}@${facts.branch}`;
  if (facts.sha === facts.head) return { kind: 'deploy' };
  if (!facts.onBranch) {
    return { kind: 'refuse', reason: `refused: ${short(facts.sha)} is not on branch ${facts.branch} of ${facts.repo} (its head is ${short(facts.head)})` };
  }
  if (facts.deployed === null || facts.deployed === facts.sha || facts.deployedIsAncestor) return { kind: 'deploy' };
  const relation = facts.olderThanDeployed ? 'is older than' : 'does not descend from';
  return {
    kind: 'refuse',
    reason: `refused: ${short(facts.sha)} ${relation} ${short(facts.deployed)}, already deployed from ${where}; a webhook never moves a branch backwards (roll back with \`forge rollback\`)`,
  };
}
