// Parsing large spec texts off the event loop: the checks of limits.ts run inline
// (one linear pass, milliseconds), small texts are parsed inline too, and a text over
// OFF_THREAD_BYTES goes to one long-lived worker thread with a heap limit and a time
// limit. A worker that runs out of either is ended and the text reported as a problem;
// the next text gets a fresh worker. The worker only keeps the process alive while it
// has work, so a CLI exits as soon as it is done.

import { Worker } from 'node:worker_threads';
import { findDuplicateNames } from './duplicates.ts';
import { checkSpecLimits, collapseProblems } from './limits.ts';
import { parseDocuments, type ParsedText } from './parse.ts';
import { compareProblems, type SpecProblem } from './problems.ts';
import type { SpecOptions, SpecResult } from './validate.ts';

export const OFF_THREAD_BYTES = 64 * 1024;
const TIME_LIMIT_MS = 20_000;
const HEAP_LIMIT_MB = 256;

interface Pending {
  resolve(result: ParsedText): void;
  file: string;
  timer: NodeJS.Timeout;
}

let worker: Worker | null = null;
let nextId = 0;
const pending = new Map<number, Pending>();

function failAll(message: string): void {
  for (const [id, request] of pending) {
    clearTimeout(request.timer);
    request.resolve({ specs: [], problems: [{ file: request.file, line: 1, col: 1, path: '', message }] });
    pending.delete(id);
  }
}

function end(current: Worker, message: string): void {
  if (worker === current) worker = null;
  failAll(message);
  void current.terminate();
}

function theWorker(): Worker {
  if (worker !== null) return worker;
  const started = new Worker(new URL('./parse-worker.mjs', import.meta.url), {
    execArgv: [],
    resourceLimits: { maxOldGenerationSizeMb: HEAP_LIMIT_MB },
  });
  started.on('message', ({ id, result }: { id: number; result: ParsedText }) => {
    const request = pending.get(id);
    if (request === undefined) return;
    clearTimeout(request.timer);
    pending.delete(id);
    if (pending.size === 0) started.unref();
    request.resolve(result);
  });
  started.on('error', (error: Error & { code?: string }) => {
    const why = error.code === 'ERR_WORKER_OUT_OF_MEMORY' ? `needs more than ${HEAP_LIMIT_MB} MB to parse` : `could not be parsed (${error.message})`;
    end(started, `YAML: the text ${why}`);
  });
  started.on('exit', () => {
    if (worker === started) worker = null;
    failAll('YAML: the parser stopped before it finished');
  });
  worker = started;
  return started;
}

/** parseDocuments, on the worker thread for large texts. Never rejects. */
export function parseDocumentsOffThread(text: string, file: string, options: SpecOptions = {}): Promise<ParsedText> {
  const limit = checkSpecLimits(text, file);
  if (limit !== null) return Promise.resolve({ specs: [], problems: [limit] });
  if (text.length < OFF_THREAD_BYTES) return Promise.resolve(parseDocuments(text, file, options));
  return new Promise((resolve) => {
    const current = theWorker();
    const id = nextId++;
    const timer = setTimeout(() => end(current, `YAML: the text took longer than ${TIME_LIMIT_MS / 1000} s to parse`), TIME_LIMIT_MS);
    timer.unref();
    pending.set(id, { resolve, file, timer });
    current.ref();
    current.postMessage({ id, text, file, options });
  });
}

/** parseSpecText, on the worker thread for large texts (API uploads). */
export async function parseSpecTextOffThread(text: string, file: string, options: SpecOptions = {}): Promise<SpecResult> {
  const { specs, problems } = await parseDocumentsOffThread(text, file, options);
  const all: SpecProblem[] = [...problems, ...findDuplicateNames(specs)];
  if (all.length > 0) return { ok: false, problems: collapseProblems(all.sort(compareProblems), file) };
  return { ok: true, specs };
}
