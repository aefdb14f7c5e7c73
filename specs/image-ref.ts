// Image references, parsed the way registries and skopeo read them, as pure data:
// `busybox` → docker.io/library/busybox:latest, `127.0.0.1:5000/hello:v1`,
// `ghcr.io/o/app@sha256:…`. The registry host keys the credentials an agent is
// given; the digest (resolved once, then pinned) is what actually runs.

export interface ImageReference {
  /** Registry host (with port): what credentials are looked up by. */
  host: string;
  /** Repository path inside the registry, e.g. `library/busybox`. */
  repository: string;
  /** The tag, when the reference names one (default `latest` when it names neither). */
  tag?: string;
  /** `sha256:<64 hex>` when the reference pins one. */
  digest?: string;
}

const DEFAULT_HOST = 'docker.io';
const DIGEST = /^sha256:[0-9a-f]{64}$/;

export function isImageDigest(value: string | undefined): value is string {
  return value !== undefined && DIGEST.test(value);
}

/** Undefined when `ref` is not a reference a registry would accept. */
export function parseImageReference(ref: string): ImageReference | undefined {
  if (ref === '' || /\s/.test(ref) || ref.includes('://')) return undefined;
  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) return undefined;
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(tag)) return undefined;
  }
  const first = rest.split('/')[0] ?? '';
  // Like docker: the first part is a host when it has a dot or a port, or is localhost.
  const hasHost = rest.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
  const host = hasHost ? first : DEFAULT_HOST;
  let repository = hasHost ? rest.slice(first.length + 1) : rest;
  if (host === DEFAULT_HOST && !repository.includes('/')) repository = `library/${repository}`;
  if (!/^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$/.test(repository)) return undefined;
  if (tag === undefined && digest === undefined) tag = 'latest';
  return { host, repository, ...(tag === undefined ? {} : { tag }), ...(digest === undefined ? {} : { digest }) };
}

/** `host/repo:tag` or `host/repo@digest` (skopeo refuses a reference with both). */
export function formatReference(ref: ImageReference, digest?: string): string {
  const base = `${ref.host}/${ref.repository}`;
  const pin = digest ?? ref.digest;
  return pin !== undefined ? `${base}@${pin}` : `${base}:${ref.tag ?? 'latest'}`;
}

/** Loopback registries (tests, a registry on the agent itself) are spoken to without TLS. */
export function isLoopbackHost(host: string): boolean {
  const name = host.replace(/:\d+$/, '');
  return name === 'localhost' || name === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(name);
}
