// Where a pushed repository is cloned from: FORGE_GIT_URL_TEMPLATE with `{owner}` and
// `{repo}` filled from the allowlisted `owner/repo`, never a URL from the payload
// (a signed payload still names whatever URL its sender chose). Pure.

import { ForgeError } from '../errors/index.ts';
import type { Mode } from './config.ts';

export const DEFAULT_GIT_URL_TEMPLATE = 'https://github.com/{owner}/{repo}.git';

/** The git transport a template uses; git is told to allow only this one (GIT_ALLOW_PROTOCOL). */
export type GitProtocol = 'https' | 'ssh' | 'file';

const OWNER_REPO = /^([A-Za-z0-9][A-Za-z0-9._-]{0,99})\/([A-Za-z0-9._-]{1,100})$/;

/**
 * https: always; ssh: when the operator wrote an ssh:// template; a local path or file://
 * only in development mode (tests and local trials), never in production.
 */
export function checkGitUrlTemplate(template: string, mode: Mode): GitProtocol {
  const usage = (why: string) =>
    new ForgeError('E_USAGE', `FORGE_GIT_URL_TEMPLATE ${why}; e.g. ${DEFAULT_GIT_URL_TEMPLATE} (see docs/operations.md)`);
  if (!template.includes('{owner}') && !template.includes('{repo}')) throw usage('must contain {owner} and/or {repo}');
  if (template.startsWith('https://')) return 'https';
  if (template.startsWith('ssh://')) return 'ssh';
  if (template.startsWith('file://') || template.startsWith('/')) {
    if (mode === 'development') return 'file';
    throw usage('may name a local path only in development mode');
  }
  throw usage('must start with https:// or ssh://');
}

export function gitProtocol(template: string): GitProtocol {
  if (template.startsWith('ssh://')) return 'ssh';
  if (template.startsWith('file://') || template.startsWith('/')) return 'file';
  return 'https';
}

/** The clone URL of an allowlisted `owner/repo`; null when the name is not a plain owner/repo. */
export function cloneUrlFor(template: string, repo: string): string | null {
  const match = OWNER_REPO.exec(repo);
  if (!match || match[1]!.includes('..') || match[2]!.includes('..')) return null;
  return template.replaceAll('{owner}', match[1]!).replaceAll('{repo}', match[2]!);
}
