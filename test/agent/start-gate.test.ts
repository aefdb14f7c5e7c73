// The start gate (agent/sandbox/start-gate.ts): the real gate script in /bin/sh,
// answered by the agent's side over a real socket. The command must run only
// after the limit was put in force, and never when that failed.

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { after, describe, test } from 'node:test';
import { containerProcessArgs } from '../../agent/sandbox/namespaces.ts';
import { answerGate, START_GATE_FD } from '../../agent/sandbox/start-gate.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'forge-start-gate-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** The gated init as a container would run it, here on the host: it creates `marker` when the command runs. */
function gatedInit(marker: string): { child: ChildProcess; gate: Duplex; exit: Promise<{ code: number | null; stderr: string }> } {
  const [file, ...args] = containerProcessArgs(`touch '${marker}'`, true);
  const child = spawn(file!, args, { stdio: ['ignore', 'ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exit = new Promise<{ code: number | null; stderr: string }>((resolve) => child.once('close', (code) => resolve({ code, stderr })));
  return { child, gate: child.stdio[START_GATE_FD] as Duplex, exit };
}

function deferred(): { promise: Promise<void>; resolve: () => void; reject: (e: Error) => void } {
  let resolve!: () => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

describe('start gate', () => {
  test('the command runs only once the limit is in force', async () => {
    const marker = path.join(dir, 'ran-after-limit');
    const { gate, exit } = gatedInit(marker);
    const limit = deferred();
    const asked = deferred();
    answerGate(gate, () => {
      asked.resolve();
      return limit.promise;
    });
    await asked.promise;
    // The init said "ready" and waits: nothing of the command ran while the limit is not in force.
    assert.equal(existsSync(marker), false);
    limit.resolve();
    assert.deepEqual(await exit, { code: 0, stderr: '' });
    assert.equal(existsSync(marker), true);
  });

  test('when the limit cannot be put in force, the command never runs and the init says why', async () => {
    const marker = path.join(dir, 'ran-without-limit');
    const { gate, exit } = gatedInit(marker);
    answerGate(gate, () => Promise.reject(new Error('EACCES')));
    assert.deepEqual(await exit, { code: 125, stderr: 'forge-sandbox: the agent did not confirm the start\n' });
    assert.equal(existsSync(marker), false);
  });

  test('an answer other than "go" does not open the gate', async () => {
    const marker = path.join(dir, 'ran-on-wrong-answer');
    const { gate, exit } = gatedInit(marker);
    gate.once('data', () => gate.end('x\n'));
    assert.equal((await exit).code, 125);
    assert.equal(existsSync(marker), false);
  });
});
