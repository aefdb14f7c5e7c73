// Small helpers shared by the store modules: ids, time formatting, JSON.

import { randomBytes } from 'node:crypto';

/** Milliseconds since the epoch; injected so tests can pin time. */
export type Clock = () => number;

/** Random, unguessable id with a type prefix (`svc_1f0c…`): 64 bits is plenty for rows we create. */
export function newId(prefix: string): string {
  return `${prefix}_${randomBytes(8).toString('hex')}`;
}

export function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/**
 * JSON with object keys sorted, so two equal values always serialize to the same text. The
 * store compares serialized columns to decide whether to write; key order must not count as change.
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v) || Buffer.isBuffer(v)) return v;
    const sorted: Record<string, unknown> = {};
    for (const k of Object.keys(v as Record<string, unknown>).sort()) {
      sorted[k] = (v as Record<string, unknown>)[k];
    }
    return sorted;
  }) ?? 'null';
}

export function parseJson<T>(text: string | null): T {
  return (text === null ? null : JSON.parse(text)) as T;
}

/** Caps free text written by callers (messages, log lines) so one row cannot grow without bound. */
export function capText(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
