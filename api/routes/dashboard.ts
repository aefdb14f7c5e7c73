// The dashboard's static files: `/` is web/index.html, `/web/<file>` the rest of
// web/. No auth here — the page holds no data; every API call it makes carries the
// key the user pasted. Only files that exist in web/ when the server starts are
// served (a fixed table, so no request path ever reaches the filesystem).

import { readdirSync, readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';

export const WEB_DIR = fileURLToPath(new URL('../../web/', import.meta.url));

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

/** Same-origin scripts, styles and API calls only: no inline script, nothing framed. */
export const DASHBOARD_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export interface WebFile {
  type: string;
  body: Buffer;
}

/** The servable files of a directory: regular files with a known extension, by name. */
export function loadWebFiles(dir: string): Map<string, WebFile> {
  const files = new Map<string, WebFile>();
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const type = CONTENT_TYPES[extname(entry.name)];
    if (!entry.isFile() || type === undefined || entry.name.startsWith('.')) continue;
    files.set(entry.name, { type, body: readFileSync(`${dir}/${entry.name}`) });
  }
  return files;
}

function send(reply: FastifyReply, file: WebFile): FastifyReply {
  return reply
    .type(file.type)
    .header('cache-control', 'no-cache')
    .header('content-security-policy', DASHBOARD_CSP)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .send(file.body);
}

export async function dashboardPlugin(app: FastifyInstance, opts: { dir?: string } = {}): Promise<void> {
  const files = loadWebFiles(opts.dir ?? WEB_DIR);
  const notFound = (reply: FastifyReply, what: string) =>
    reply.status(404).send({ error: 'E_NOT_FOUND', message: `no dashboard file ${JSON.stringify(what)}` });

  app.get('/', async (_request, reply) => {
    const index = files.get('index.html');
    return index ? send(reply, index) : notFound(reply, 'index.html');
  });
  app.get<{ Params: { file: string } }>('/web/:file', async (request, reply) => {
    const file = files.get(request.params.file);
    return file ? send(reply, file) : notFound(reply, request.params.file);
  });
}
export default dashboardPlugin;
