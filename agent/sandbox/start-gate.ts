// The start gate of a sandboxed command: crun's own set-up of a container (user
// namespace, mounts, seccomp) runs before the command's CPU limit is in force,
// the command's first instruction after it. Under a 0.1-CPU quota crun's set-up
// took 0.1-0.4 s of throttled wall time per command; the app gains nothing from it.
//
// The container's init shell says "ready" on fd 3 (a socket crun passes in with
// --preserve-fds 1) once crun has set everything up, then waits for the agent's
// "go", closes fd 3 and runs the command. The agent sends "go" only after the
// limit is written; without it (the agent closed its end) the command never runs.
// Memory and process limits are in force throughout.

import type { Duplex } from 'node:stream';

/** The gate's fd in crun's and then the container init's table: the first after stdio. */
export const START_GATE_FD = 3;

/** Shell prefix of a gated init: ready, wait for go, close the gate, go on (exit 125 without a go). */
export const GATE_SCRIPT =
  'printf r >&3 && read -r go <&3 && [ "$go" = g ] || { echo "forge-sandbox: the agent did not confirm the start" >&2; exit 125; }; exec 3<&-; ';

/**
 * The agent's side of one gate: on "ready", puts the limit in force and only then
 * says "go"; a failed limit closes the gate without it.
 */
export function answerGate(gate: Duplex, putLimitInForce: () => Promise<void>): void {
  let asked = false;
  gate.on('error', () => undefined);
  gate.on('data', (chunk: Buffer) => {
    if (asked || !chunk.includes('r')) return;
    asked = true;
    putLimitInForce().then(
      () => void gate.end('g\n'),
      () => void gate.destroy(),
    );
  });
}
