// Unit parsing for the spec's human-friendly values. Each parser returns
// undefined for text it does not understand, so callers decide how to report.

import type { CpuKind } from './types.ts';

const MEMORY = /^([0-9]+(?:\.[0-9]+)?)(M|Mi|MB|G|Gi|GB)?$/;
const DURATION = /^([0-9]+)(ms|s|m)$/;
const CPU_TIER = /^(shared|performance)-(1|2|4|8|16)x$/;

/**
 * Memory in MB. A bare number is MB; M/Mi/MB mean MiB and G/Gi/GB mean GiB,
 * as Fly and most operators use them. Undefined when the text is not a size or
 * does not come to a whole number of MB.
 */
export function parseMemoryMb(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isInteger(value) && value >= 0 ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const match = MEMORY.exec(value);
  if (!match) return undefined;
  const amount = Number(match[1]);
  const unit = match[2] ?? 'M';
  const mb = unit.startsWith('G') ? amount * 1024 : amount;
  return Number.isInteger(mb) ? mb : undefined;
}

/** A duration in milliseconds from `1500ms`, `10s` or `2m`. */
export function parseDurationMs(value: unknown): number | undefined {
  if (typeof value !== 'string') return undefined;
  const match = DURATION.exec(value);
  if (!match) return undefined;
  const amount = Number(match[1]);
  const factor = match[2] === 'ms' ? 1 : match[2] === 's' ? 1000 : 60_000;
  const ms = amount * factor;
  return Number.isSafeInteger(ms) ? ms : undefined;
}

/** A Fly CPU tier such as `performance-2x` → { kind: 'performance', count: 2 }. */
export function parseCpuTier(value: unknown): { kind: CpuKind; count: number } | undefined {
  if (typeof value !== 'string') return undefined;
  const match = CPU_TIER.exec(value);
  if (!match) return undefined;
  return { kind: match[1] as CpuKind, count: Number(match[2]) };
}
