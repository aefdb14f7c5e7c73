// Pure: the release phase of one pass. A spec with `release.command` rolls nothing out
// toward a new release until its command ran once and exited 0 (so no instance of the
// new release exists, and none is routed, before it succeeded). The exactly-once rule:
// a run is recorded as started before it starts; a run recorded as started whose result
// nobody has is one that MAY have run, and it is reported (the release fails), never
// started again by Forge on its own.

import type { Action, Desired, OneOffResult, ProviderCapabilities } from '../providers/types.ts';
import type { ReleaseCommandState } from '../store/index.ts';
import { RETRY_HINT } from './diff.ts';

/** The stored run of the desired generation's release command, as plan() sees it. */
export interface ReleaseCommandView {
  state: ReleaseCommandState;
  exitCode: number | null;
  reason: string | null;
  startedAt: string;
  /** This control plane is running it right now (a pass is waiting for its result). */
  inFlight: boolean;
}

/** What the controller runs through the provider (and records as started first). */
export interface ReleaseCommandStep {
  kind: 'run';
  generation: number;
  hash: string;
  command: string;
  timeoutMs: number;
  reason: string;
}

export type ReleasePhase =
  /** Nothing to hold back: no command, it succeeded, or nothing of the new release is rolled out. */
  | { kind: 'clear' }
  /** Run it now; no rollout action and no route change in this pass. */
  | { kind: 'run'; step: ReleaseCommandStep }
  /** It runs now in this control plane: wait for it. */
  | { kind: 'running'; message: string }
  /** It failed, timed out or may have run: the release is bad. `markUnknown`: record "may have run". */
  | { kind: 'failed'; reason: string; markUnknown: boolean }
  /** The provider cannot run it: the release is refused rather than rolled out without it. */
  | { kind: 'unsupported'; message: string };

/** Whether these actions roll the desired release out (start instances of its hash). */
export function rollsOut(desired: Desired, actions: readonly Action[]): boolean {
  return actions.some((a) => (a.kind === 'create' || a.kind === 'replace' || a.kind === 'update') && a.hash === desired.hash);
}

/** The stored run alone: a result (or its absence) that holds whatever the actions are. */
export function releasePhaseOfRecord(desired: Desired, view: ReleaseCommandView | null): ReleasePhase {
  if (!desired.spec.release || desired.deleting || view === null || view.state === 'succeeded') return { kind: 'clear' };
  if (view.state === 'started') {
    if (view.inFlight) return { kind: 'running', message: `running the release command of generation ${desired.generation}` };
    return { kind: 'failed', reason: mayHaveRunReason(desired.key, view.startedAt), markUnknown: true };
  }
  return { kind: 'failed', reason: view.reason ?? `the release command ${view.state === 'unknown' ? 'may have run' : 'failed'}`, markUnknown: false };
}

/** With no stored run: run it when these actions would roll the new release out. */
export function releasePhaseOfActions(desired: Desired, actions: readonly Action[], capabilities: ProviderCapabilities): ReleasePhase {
  const release = desired.spec.release;
  if (!release || desired.deleting || !rollsOut(desired, actions)) return { kind: 'clear' };
  if (!capabilities.oneOffs) {
    return { kind: 'unsupported', message: `provider ${desired.spec.provider} cannot run release commands; remove \`release\` from the spec of ${desired.key} or use a provider that can` };
  }
  return {
    kind: 'run',
    step: {
      kind: 'run', generation: desired.generation, hash: desired.hash, command: release.command, timeoutMs: release.timeoutMs,
      reason: `release command of generation ${desired.generation} runs before any instance of it starts`,
    },
  };
}

export function mayHaveRunReason(key: string, startedAt: string): string {
  return `the release command may have run: it started at ${startedAt} and no result was recorded (the control plane or its agent ` +
    `stopped mid-run); Forge never runs it a second time on its own. Check what it did, then ${RETRY_HINT(key)}`;
}

/** How a finished run is recorded: its state and the reason a person reads in events and status. */
export function releaseCommandOutcome(result: OneOffResult, timeoutMs: number): { state: 'succeeded' | 'failed' | 'unknown'; reason: string | null } {
  if (result.exitCode === 0 && !result.timedOut) return { state: 'succeeded', reason: null };
  const tail = result.lastLines.slice(-5).join(' | ');
  const output = tail === '' ? '' : `; last output: ${tail}`;
  if (result.mayHaveRun) return { state: 'unknown', reason: `the release command may have run: ${result.message}; Forge never runs it a second time on its own${output}` };
  if (result.timedOut) return { state: 'failed', reason: `the release command timed out after ${Math.round(timeoutMs / 1000)} s${output}` };
  if (result.exitCode === null) return { state: 'failed', reason: `the release command did not run: ${result.message}${output}` };
  return { state: 'failed', reason: `the release command exited with code ${result.exitCode}${output}` };
}
