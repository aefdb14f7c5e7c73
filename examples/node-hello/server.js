// A dependency-free HTTP service for trying Forge: `/health` answers 200 "ok",
// `/` says hello with a version you can edit to watch a rolling deploy.
import { createServer } from 'node:http';

const VERSION = 'v1';
const port = Number(process.env.PORT ?? 8080);

const server = createServer((req, res) => {
  const path = new URL(req.url ?? '/', 'http://localhost').pathname;
  if (path === '/health') {
    res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
  } else if (path === '/') {
    res.writeHead(200, { 'content-type': 'text/plain' }).end(`hello from node-hello ${VERSION}\n`);
  } else {
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
  }
});

server.listen(port, () => console.log(`node-hello ${VERSION} listening on :${port}`));

// Forge stops a replica with SIGTERM; finish in-flight requests, then exit.
process.on('SIGTERM', () => server.close(() => process.exit(0)));
