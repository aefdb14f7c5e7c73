// Fly app names: one app per service, `<name>-<projectId>`, a DNS label that also
// becomes `<app>.fly.dev`. Too-long names keep a readable prefix and gain a short
// hash of the full name, so two long names never collide and the result never
// changes between runs.

import { createHash } from 'node:crypto';

/** Fly app names are DNS labels (they become `<app>.fly.dev`). */
export const FLY_APP_NAME_MAX = 63;
const HASH_LENGTH = 8;

function sanitize(raw: string): string {
  return raw
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/-{2,}/g, '-')
    .replace(/^-+|-+$/g, '');
}

export function flyAppName(serviceName: string, projectId: string): string {
  const full = sanitize(`${serviceName}-${projectId}`);
  if (full.length <= FLY_APP_NAME_MAX) return full;
  const hash = createHash('sha256').update(full).digest('hex').slice(0, HASH_LENGTH);
  const prefix = full.slice(0, FLY_APP_NAME_MAX - HASH_LENGTH - 1).replace(/-+$/, '');
  return `${prefix}-${hash}`;
}

export function flyAppUrl(appName: string): string {
  return `https://${appName}.fly.dev`;
}

/** Where `flyctl deploy --build-only --image-label <tag>` leaves an app's image. */
export function flyImageRef(appName: string, tag: string): string {
  return `registry.fly.io/${appName}:${tag}`;
}
