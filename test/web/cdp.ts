// A small Chrome DevTools Protocol driver for the dashboard's browser test:
// launch Debian's chromium headless, open one page, evaluate expressions, wait
// for conditions with a bounded poll, and save screenshots. (playwright-core is
// not a dependency; CDP over a WebSocket is all the test needs.)

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket } from 'undici';

export const CHROMIUM = process.env.FORGE_TEST_CHROMIUM ?? '/usr/bin/chromium';

/** Why the browser test cannot run here, or undefined when it can. */
export function chromiumMissing(): string | undefined {
  return existsSync(CHROMIUM) ? undefined : `no chromium at ${CHROMIUM} (install Debian's chromium with scripts/setup.sh, or set FORGE_TEST_CHROMIUM)`;
}

const LAUNCH_TIMEOUT_MS = 30_000;
const CALL_TIMEOUT_MS = 15_000;

interface Pending {
  resolve(value: Record<string, unknown>): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

export interface PageProblem {
  kind: 'exception' | 'console' | 'log';
  text: string;
}

export interface Page {
  send(method: string, params?: Record<string, unknown>): Promise<Record<string, unknown>>;
  /** Runs an expression in the page (promises awaited) and returns its JSON value. */
  evaluate<T = unknown>(expression: string): Promise<T>;
  /** Polls a boolean expression until it is true: at most `tries` times, `delayMs` apart. */
  waitFor(expression: string, what: string, options?: { tries?: number; delayMs?: number }): Promise<void>;
  goto(url: string): Promise<void>;
  click(selector: string): Promise<void>;
  /** Focuses a field, clears it and types text as input events. */
  fill(selector: string, text: string): Promise<void>;
  /** Sets a <select> and fires its change event. */
  select(selector: string, value: string): Promise<void>;
  screenshot(file: string): Promise<string>;
  /** Uncaught exceptions, console.error calls and browser log errors (CSP violations among them). */
  problems: PageProblem[];
}

export interface Browser {
  pid: number;
  page: Page;
  close(): Promise<void>;
}

function readDevtoolsUrl(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => fail(new Error(`chromium printed no DevTools URL within ${LAUNCH_TIMEOUT_MS} ms:\n${seen.slice(-2000)}`)), LAUNCH_TIMEOUT_MS);
    const onData = (chunk: Buffer) => {
      seen += chunk.toString('utf8');
      const match = /DevTools listening on (ws:\/\/\S+)/.exec(seen);
      if (match?.[1]) {
        cleanup();
        resolve(match[1]);
      }
    };
    const onExit = (code: number | null) => fail(new Error(`chromium exited (${code}) before listening:\n${seen.slice(-2000)}`));
    function cleanup() {
      clearTimeout(timer);
      child.stderr?.off('data', onData);
      child.off('exit', onExit);
    }
    function fail(error: Error) {
      cleanup();
      reject(error);
    }
    child.stderr?.on('data', onData);
    child.once('exit', onExit);
  });
}

function connect(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url);
    socket.addEventListener('open', () => resolve(socket), { once: true });
    socket.addEventListener('error', () => reject(new Error(`cannot open the DevTools socket ${url}`)), { once: true });
  });
}

/** Starts chromium headless with a throwaway profile and opens one blank page. */
export async function launchChromium(options: { width?: number; height?: number } = {}): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), 'forge-chromium-'));
  const child = spawn(CHROMIUM, [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage', `--user-data-dir=${profile}`,
    '--remote-debugging-port=0', 'about:blank',
  ], { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`cannot start ${CHROMIUM}`);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let socket: WebSocket | undefined;

  const kill = async () => {
    socket?.close();
    // The whole process group started above (browser, zygote, renderers): by its id, nothing else.
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // already gone
    }
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5_000))]);
    rmSync(profile, { recursive: true, force: true });
  };

  try {
    socket = await connect(await readDevtoolsUrl(child));
    child.stderr?.resume(); // keep draining chromium's chatter so it never blocks on a full pipe
    const page = await openPage(socket, options);
    return {
      pid,
      page,
      async close() {
        await page.send('Browser.close').catch(() => undefined);
        await kill();
      },
    };
  } catch (error) {
    await kill();
    throw error;
  }
}

async function openPage(socket: WebSocket, options: { width?: number; height?: number }): Promise<Page> {
  let nextId = 1;
  const pending = new Map<number, Pending>();
  const problems: PageProblem[] = [];
  let sessionId: string | undefined;

  socket.addEventListener('message', (event) => {
    const message = JSON.parse(String(event.data)) as {
      id?: number; result?: Record<string, unknown>; error?: { message: string }; method?: string; params?: Record<string, any>;
    };
    if (message.id !== undefined) {
      const call = pending.get(message.id);
      if (!call) return;
      pending.delete(message.id);
      clearTimeout(call.timer);
      if (message.error) call.reject(new Error(`CDP: ${message.error.message}`));
      else call.resolve(message.result ?? {});
      return;
    }
    const params = message.params ?? {};
    if (message.method === 'Runtime.exceptionThrown') {
      problems.push({ kind: 'exception', text: String(params.exceptionDetails?.exception?.description ?? params.exceptionDetails?.text) });
    } else if (message.method === 'Runtime.consoleAPICalled' && params.type === 'error') {
      problems.push({ kind: 'console', text: (params.args ?? []).map((a: { value?: unknown; description?: string }) => String(a.value ?? a.description)).join(' ') });
    } else if (message.method === 'Log.entryAdded' && params.entry?.level === 'error') {
      problems.push({ kind: 'log', text: `${params.entry.source}: ${params.entry.text}` });
    }
  });

  const call = (method: string, params: Record<string, unknown> = {}, session?: string) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const id = nextId++;
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error(`CDP ${method} got no answer within ${CALL_TIMEOUT_MS} ms`));
      }, CALL_TIMEOUT_MS);
      pending.set(id, { resolve, reject, timer });
      socket.send(JSON.stringify({ id, method, params, ...(session ? { sessionId: session } : {}) }));
    });

  const { targetId } = await call('Target.createTarget', { url: 'about:blank' });
  const attached = await call('Target.attachToTarget', { targetId, flatten: true });
  sessionId = String(attached.sessionId);
  const send = (method: string, params: Record<string, unknown> = {}) =>
    method.startsWith('Browser.') || method.startsWith('Target.') ? call(method, params) : call(method, params, sessionId);

  await send('Page.enable');
  await send('Runtime.enable');
  await send('Log.enable');
  await send('Emulation.setDeviceMetricsOverride', { width: options.width ?? 1280, height: options.height ?? 900, deviceScaleFactor: 1, mobile: false });

  async function evaluate<T>(expression: string): Promise<T> {
    const result = await send('Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true });
    const thrown = result.exceptionDetails as { text?: string; exception?: { description?: string } } | undefined;
    if (thrown) throw new Error(`in page: ${thrown.exception?.description ?? thrown.text}\n  while evaluating: ${expression}`);
    return (result.result as { value?: T }).value as T;
  }

  async function waitFor(expression: string, what: string, { tries = 150, delayMs = 100 } = {}): Promise<void> {
    for (let i = 0; i < tries; i += 1) {
      if (await evaluate<boolean>(`Boolean(${expression})`)) return;
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
    throw new Error(`waited ${tries} × ${delayMs} ms for ${what} (${expression})`);
  }

  const q = (selector: string) => `document.querySelector(${JSON.stringify(selector)})`;

  return {
    send,
    evaluate,
    waitFor,
    problems,
    async goto(url) {
      await send('Page.navigate', { url });
      await waitFor(`location.href.startsWith(${JSON.stringify(url)}) && document.readyState === 'complete'`, `${url} to load`);
    },
    async click(selector) {
      await waitFor(`${q(selector)} && !${q(selector)}.disabled`, `${selector} to be clickable`);
      await evaluate(`${q(selector)}.click()`);
    },
    async fill(selector, text) {
      await waitFor(q(selector), selector);
      await evaluate(`(() => { const el = ${q(selector)}; el.focus(); el.value = ''; })()`);
      if (text !== '') await send('Input.insertText', { text });
    },
    async select(selector, value) {
      await waitFor(q(selector), selector);
      await evaluate(`(() => { const el = ${q(selector)}; el.value = ${JSON.stringify(value)}; el.dispatchEvent(new Event('change', { bubbles: true })); })()`);
    },
    async screenshot(file) {
      const { data } = await send('Page.captureScreenshot', { format: 'png' });
      mkdirSync(join(file, '..'), { recursive: true });
      writeFileSync(file, Buffer.from(String(data), 'base64'));
      return file;
    },
  };
}
