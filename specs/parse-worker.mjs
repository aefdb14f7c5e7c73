// The worker thread that parses large spec texts (see off-thread.ts), so the control
// plane's event loop keeps answering /healthz and agents while it works. Plain
// JavaScript: it registers tsx itself, because a worker does not inherit the loader
// hooks the main thread registered (bin/forge registers them at run time).

import { parentPort } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
const { parseDocuments } = await import(new URL('./parse.ts', import.meta.url).href);

parentPort.on('message', ({ id, text, file, options }) => {
  parentPort.postMessage({ id, result: parseDocuments(text, file, options) });
});
