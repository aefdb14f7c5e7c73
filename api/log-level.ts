// FORGE_LOG_LEVEL: how much the API server logs. Request lines (one at info per
// request and one per reply) are the bulk of it: production defaults to warn, so
// a control plane logs only what went wrong; development defaults to info.

import { ForgeError } from '../errors/index.ts';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export function logLevel(env: Readonly<Record<string, string | undefined>>, mode: 'development' | 'production'): LogLevel {
  const text = env.FORGE_LOG_LEVEL?.trim().toLowerCase();
  if (!text) return mode === 'production' ? 'warn' : 'info';
  if ((LOG_LEVELS as readonly string[]).includes(text)) return text as LogLevel;
  throw new ForgeError('E_USAGE', `FORGE_LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(env.FORGE_LOG_LEVEL)}`);
}
