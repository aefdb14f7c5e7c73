// What a failed build or start says about itself: the error, the last lines the build
// or app printed, and where the whole output is. The message travels in the task result
// and the instance report into events, status conditions, `forge apply` and the
// dashboard, so it stays one line and bounded. Pure.

import type { ForgeError } from '../errors/index.ts';

export const FAILURE_TAIL_LINES = 5;
/** Under the instance report's `reason` limit (4096) with room to spare: a longer report would be refused whole. */
export const MAX_FAILURE_MESSAGE = 3_000;
const MAX_SHOWN_LINE = 300;

export function failureWithOutput(service: string, instance: string, error: ForgeError, lastLines: readonly string[]): string {
  const shown = lastLines.filter((l) => l.trim() !== '').slice(-FAILURE_TAIL_LINES)
    .map((l) => JSON.stringify(l.length > MAX_SHOWN_LINE ? `${l.slice(0, MAX_SHOWN_LINE - 1)}…` : l));
  if (shown.length === 0) return error.message;
  const where = error.code === 'E_BUILD_FAILED' ? `forge logs ${service} --build` : `forge logs ${service} --instance ${instance}`;
  return `${error.message}; last output: ${shown.join(' | ')} (full log: ${where})`;
}

/** Cuts a message (after masking, which may lengthen it) to MAX_FAILURE_MESSAGE. */
export function capFailureMessage(message: string): string {
  return message.length <= MAX_FAILURE_MESSAGE ? message : `${message.slice(0, MAX_FAILURE_MESSAGE - 1)}…`;
}
