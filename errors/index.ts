// Every error Forge reports carries a stable code; callers branch on the code (or the
// class), never on message text. ERROR_TABLE is the one place that says, per code,
// the HTTP status the API answers with, whether the loop retries it, and whether
// the spec itself caused it (which marks the release bad and waits for a new spec).
// This module sits below every room: anything may import it, it imports nothing.

export interface ErrorTraits {
  /** The API's status for it. */
  http: number;
  /** Not retried by the loop: it waits for the spec (or the configuration) to change. */
  terminal: boolean;
  /** Caused by the spec itself: the release is marked bad and not retried until the spec changes. */
  specCaused: boolean;
}

export const ERROR_TABLE = {
  E_SPEC_INVALID: { http: 400, terminal: true, specCaused: true },
  E_USAGE: { http: 400, terminal: true, specCaused: false },
  E_BAD_REQUEST: { http: 400, terminal: false, specCaused: false },
  E_REGION_IMMUTABLE: { http: 400, terminal: true, specCaused: true },
  E_UNAUTHORIZED: { http: 401, terminal: false, specCaused: false },
  E_FORBIDDEN: { http: 403, terminal: false, specCaused: false },
  E_NOT_FOUND: { http: 404, terminal: false, specCaused: false },
  E_CONFLICT: { http: 409, terminal: false, specCaused: false },
  // Fencing: a replica whose leadership is over had a write refused by the database (answered 503:
  // this replica cannot serve it, another can; never 409, which an agent reads as a lost lease),
  // or an agent refused a task issued under an older leader term (the current leader re-plans it).
  E_FENCED: { http: 503, terminal: false, specCaused: false },
  E_RATE_LIMITED: { http: 429, terminal: false, specCaused: false },
  E_TOO_LARGE: { http: 413, terminal: true, specCaused: false },
  // Production: a source-mode service named a folder path instead of an uploaded bundle.
  E_SOURCE_NOT_BUNDLED: { http: 400, terminal: true, specCaused: false },
  E_COMPUTE_NOT_CONFIGURED: { http: 503, terminal: true, specCaused: false },
  E_PROVIDER: { http: 502, terminal: false, specCaused: false },
  E_TIMEOUT: { http: 504, terminal: false, specCaused: false },
  E_UNSCHEDULABLE: { http: 500, terminal: false, specCaused: false },
  E_SECRET_DECRYPT: { http: 500, terminal: true, specCaused: false },
  E_STORE: { http: 500, terminal: false, specCaused: false },
  E_ISOLATION_UNAVAILABLE: { http: 500, terminal: true, specCaused: false },
  // A build or health check fails as retryable by default (a flaky network during
  // `npm ci`); the agent marks the ones that will fail again the same way terminal.
  E_BUILD_FAILED: { http: 500, terminal: false, specCaused: true },
  E_HEALTH_FAILED: { http: 500, terminal: false, specCaused: true },
  // Images (agent/image/errors.ts maps skopeo's and buildah's words to these): a tag or
  // repository that does not exist is the spec's fault; credentials are configuration
  // (fixed without a new spec, so retried); a registry that does not answer is retried.
  E_IMAGE_NOT_FOUND: { http: 400, terminal: true, specCaused: true },
  E_REGISTRY_AUTH: { http: 400, terminal: false, specCaused: false },
  E_REGISTRY_UNAVAILABLE: { http: 502, terminal: false, specCaused: false },
  E_INTERNAL: { http: 500, terminal: false, specCaused: false },
} as const satisfies Record<string, ErrorTraits>;

export type ErrorCode = keyof typeof ERROR_TABLE;

export function traitsOf(code: string | undefined): ErrorTraits | undefined {
  return code !== undefined && Object.hasOwn(ERROR_TABLE, code) ? ERROR_TABLE[code as ErrorCode] : undefined;
}

/** A failure the spec causes: it marks the release bad and waits for the spec to change. */
export function isSpecCaused(code: string | undefined): boolean {
  return traitsOf(code)?.specCaused ?? false;
}

export interface ForgeErrorOptions {
  details?: unknown;
  cause?: unknown;
  /** Overrides the code's default (ERROR_TABLE): a build that will fail the same way again is terminal. */
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
    this.terminal = options.terminal ?? ERROR_TABLE[code].terminal;
  }

  /** The API's status for this error. */
  get httpStatus(): number {
    return ERROR_TABLE[this.code].http;
  }

  /** Whether the spec caused it (see ERROR_TABLE). */
  get specCaused(): boolean {
    return ERROR_TABLE[this.code].specCaused;
  }
}

export function isForgeError(value: unknown): value is ForgeError {
  return value instanceof ForgeError;
}

/** Wraps anything thrown into a ForgeError without losing the original as `cause`. */
export function toForgeError(value: unknown, fallback: ErrorCode = 'E_INTERNAL'): ForgeError {
  if (value instanceof ForgeError) return value;
  const message = value instanceof Error ? value.message : String(value);
  return new ForgeError(fallback, message, { cause: value });
}
