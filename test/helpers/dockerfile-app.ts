// A Dockerfile build context made without network: the static busybox binary, a
// /bin/sh link to it, and a page. FROM scratch, so nothing is pulled. Its RUN step
// writes into a directory COPY created, as `RUN npm ci` does into a copied app.

import { copyFileSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export const DOCKERFILE = `FROM scratch
COPY bin /bin
COPY www /www
RUN mkdir -p /www/data && echo built > /www/data/marker
USER 1000:1000
WORKDIR /www
CMD exec /bin/busybox httpd -f -p "$PORT" -h /www
`;

export function writeDockerfileApp(dir: string, page: string): void {
  mkdirSync(path.join(dir, 'bin'), { recursive: true });
  mkdirSync(path.join(dir, 'www'), { recursive: true });
  copyFileSync('/bin/busybox', path.join(dir, 'bin', 'busybox'));
  try {
    symlinkSync('busybox', path.join(dir, 'bin', 'sh'));
  } catch {
    // already there
  }
  writeFileSync(path.join(dir, 'www', 'index.html'), page);
  writeFileSync(path.join(dir, 'www', 'health'), 'ok\n');
  writeFileSync(path.join(dir, 'Dockerfile'), DOCKERFILE);
}
