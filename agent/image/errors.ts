// What skopeo (and buildah, which shares containers/image) says when a pull fails,
// mapped to Forge's error codes. Pure. The message names the image and the cause in
// words; it never repeats skopeo's text verbatim beyond one cleaned line, and that
// line is scrubbed of anything that looks like a credential (URLs with user info,
// Authorization headers), so a password cannot travel into an event or status.

import { ForgeError } from '../../errors/index.ts';

const NOT_FOUND = [/manifest unknown/i, /name unknown/i, /repository name not known/i, /not found/i, /no such image/i];
const AUTH = [/unauthorized/i, /authentication required/i, /invalid username\/password/i, /denied/i, /\b401\b/];
const DOWN = [/connection refused/i, /no such host/i, /i\/o timeout/i, /timeout/i, /network is unreachable/i, /EOF/, /server gave HTTP response to HTTPS/i, /tls:/i, /x509:/i, /\b50[234]\b/];

/**
 * The line without what names things (URLs, host:port, digests): the code is read from
 * the words and status codes left. A status code matched anywhere once made a registry
 * on port 34015 answer "manifest unknown" read as a 401 (E_REGISTRY_AUTH).
 */
function wordsOf(line: string): string {
  return line
    .replace(/[a-z][a-z0-9+.-]*:\/\/\S+/gi, ' ')
    .replace(/sha256:[0-9a-f]*/gi, ' ')
    .replace(/[\w.[\]-]+:\d+\S*/g, ' ');
}

/** One line of skopeo's stderr without its logrus prefix and without anything credential-shaped. */
export function cleanLine(stderr: string): string {
  const line = stderr.split('\n').map((l) => l.trim()).filter((l) => l !== '').pop() ?? '';
  const msg = /msg="((?:[^"\\]|\\.)*)"/.exec(line)?.[1]?.replace(/\\"/g, '"') ?? line;
  return msg
    .replace(/\/\/[^/@\s]*:[^/@\s]*@/g, '//***@')
    .replace(/(authorization|auth|password|token)(["':= ]+)[^\s"',]+/gi, '$1$2***')
    .slice(0, 300);
}

export function pullError(image: string, stderr: string, secrets: readonly string[] = []): ForgeError {
  let line = cleanLine(stderr);
  for (const s of secrets) if (s.length > 0) line = line.split(s).join('***');
  const details = { image };
  const words = wordsOf(line);
  if (AUTH.some((r) => r.test(words))) {
    return new ForgeError('E_REGISTRY_AUTH', `image ${image}: the registry refused the credentials (or none were given): set them with forge registry login (${line})`, { details });
  }
  if (NOT_FOUND.some((r) => r.test(words))) {
    return new ForgeError('E_IMAGE_NOT_FOUND', `image ${image} does not exist: no such repository or tag in its registry (${line})`, { details });
  }
  if (DOWN.some((r) => r.test(words))) {
    return new ForgeError('E_REGISTRY_UNAVAILABLE', `image ${image}: its registry could not be reached (${line})`, { details });
  }
  return new ForgeError('E_PROVIDER', `image ${image} could not be pulled: ${line === '' ? 'skopeo failed without saying why' : line}`, { details });
}
