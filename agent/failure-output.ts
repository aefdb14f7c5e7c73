// What a failed build or start says about itself: the error, the last lines the build
// or app printed, and where the whole output is. The message travels in the task result
// and the instance report into events, status conditions, `forge apply` and the
// dashboard, so it stays one line and bounded. Pure.

import type { ForgeError } from '../specs/errors.ts';

export const FAILURE_TAIL_LINES = 5;
const MAX_SHOWN_LINE = 300;

export function failureWithOutput(service: string, instance: string, error: ForgeError, lastLines: readonly string[]): string {
  const shown = lastLines.filter((l) => l.trim() !== '').slice(-FAILURE_TAIL_LINES)
    .map((l) => JSON.stringify(l.length > MAX_SHOWN_LINE ? `${l.slice(0, MAX_SHOWN_LINE - 1)}…` : l));
  if (shown.length === 0) return error.message;
  const where = error.code === 'E_BUILD_FAILED' ? `forge logs ${service} --build` : `forge logs ${service} --instance ${instance}`;
  return `${error.message}; last output: ${shown.join(' | ')} (full log: ${where})`;
}
