// Every error Forge reports carries a stable code; callers branch on the code
// (or the class), never on message text. The API maps codes to statuses and the
// CLI maps them to exit codes.

export type ErrorCode =
  | 'E_SPEC_INVALID'
  | 'E_USAGE'
  | 'E_NOT_FOUND'
  | 'E_CONFLICT'
  | 'E_COMPUTE_NOT_CONFIGURED'
  | 'E_PROVIDER'
  | 'E_REGION_IMMUTABLE'
  | 'E_UNSCHEDULABLE'
  | 'E_UNAUTHORIZED'
  | 'E_FORBIDDEN'
  | 'E_RATE_LIMITED'
  | 'E_BAD_REQUEST'
  | 'E_SECRET_DECRYPT'
  | 'E_STORE'
  | 'E_TIMEOUT'
  | 'E_ISOLATION_UNAVAILABLE'
  | 'E_BUILD_FAILED'
  | 'E_HEALTH_FAILED'
  | 'E_INTERNAL';

export interface ForgeErrorOptions {
  details?: unknown;
  cause?: unknown;
  /** A terminal error is never retried by the loop; it waits for the spec to change. */
  terminal?: boolean;
}

export class ForgeError extends Error {
  readonly code: ErrorCode;
  readonly details: unknown;
  readonly terminal: boolean;

  constructor(code: ErrorCode, message: string, options: ForgeErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ForgeError';
    this.code = code;
    this.details = options.details;
    this.terminal = options.terminal ?? TERMINAL_BY_DEFAULT.has(code);
  }
}

const TERMINAL_BY_DEFAULT = new Set<ErrorCode>([
  'E_SPEC_INVALID',
  'E_REGION_IMMUTABLE',
  'E_COMPUTE_NOT_CONFIGURED',
  'E_SECRET_DECRYPT',
  'E_ISOLATION_UNAVAILABLE',
  'E_USAGE',
]);

export function isForgeError(value: unknown): value is ForgeError {
  return value instanceof ForgeError;
}

/** Wraps anything thrown into a ForgeError without losing the original as `cause`. */
export function toForgeError(value: unknown, fallback: ErrorCode = 'E_INTERNAL'): ForgeError {
  if (value instanceof ForgeError) return value;
  const message = value instanceof Error ? value.message : String(value);
  return new ForgeError(fallback, message, { cause: value });
}
