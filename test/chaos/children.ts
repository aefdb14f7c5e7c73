// Child processes of the chaos tests (plane-child.ts, agent-child.ts): start one
// and wait for its first IPC message, ask it something over IPC, end it.

import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';

export const dead = (child: ChildProcess) => child.exitCode !== null || child.signalCode !== null;

/** Forks a TypeScript child and waits (up to 30 s) for its first IPC message. */
export function forkReady<T>(file: string, args: string[], env: Record<string, string>): Promise<{ child: ChildProcess; first: T }> {
  const what = path.basename(file);
  const child = fork(file, args, { execArgv: ['--import', 'tsx'], env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`${what} did not start in 30 s`)); }, 30_000);
    child.once('message', (m) => { clearTimeout(timer); resolve({ child, first: m as T }); });
    child.once('exit', (code, signal) => { clearTimeout(timer); reject(new Error(`${what} exited while starting (${signal ?? code})`)); });
  });
}

/** Sends `question` and resolves with the `question` field of the answer (agent-child.ts answers these). */
export function ask<T>(child: ChildProcess, question: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { child.off('message', onMessage); reject(new Error(`no answer to '${question}' in 5 s`)); }, 5_000);
    const onMessage = (m: unknown) => {
      const answer = m as Record<string, unknown>;
      if (!(question in answer)) return;
      clearTimeout(timer);
      child.off('message', onMessage);
      resolve(answer[question] as T);
    };
    child.on('message', onMessage);
    child.send(question);
  });
}

/** Sends `signal` (SIGKILL by default) and waits for the exit; a child still alive 10 s later gets SIGKILL. */
export function stop(child: ChildProcess | undefined, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  if (!child || dead(child)) return Promise.resolve();
  return new Promise((resolve) => {
    const late = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => { clearTimeout(late); resolve(); });
    child.kill(signal);
  });
}
