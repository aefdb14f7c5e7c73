// Fly error bodies (`{ error, status? }`) → ForgeError. Every Fly failure is
// E_PROVIDER; callers branch on `details.status` through the helpers below,
// never on message text. Messages never include request bodies (secrets).

import { ForgeError } from '../../errors/index.ts';

export interface FlyErrorDetails {
  status: number;
  flyError?: string;
  flyStatus?: string;
  attempts?: number;
  /** The request may have taken effect (5xx, a reset mid-request): look before you repeat it. */
  ambiguous?: boolean;
}

function describeBody(body: unknown): { flyError?: string; flyStatus?: string } {
  if (body !== null && typeof body === 'object') {
    const b = body as Record<string, unknown>;
    return {
      ...(typeof b['error'] === 'string' ? { flyError: b['error'] } : {}),
      ...(typeof b['status'] === 'string' ? { flyStatus: b['status'] } : {}),
    };
  }
  return typeof body === 'string' && body !== '' ? { flyError: body.slice(0, 300) } : {};
}

export function flyHttpError(status: number, body: unknown, operation: string, extra: Partial<FlyErrorDetails> = {}): ForgeError {
  const { flyError, flyStatus } = describeBody(body);
  const details: FlyErrorDetails = { status, ...(flyError ? { flyError } : {}), ...(flyStatus ? { flyStatus } : {}), ...extra };
  if (status === 401) {
    return new ForgeError('E_PROVIDER', 'FLY_API_TOKEN was refused by the Fly Machines API (401): set a valid token with access to FLY_ORG', {
      details,
      terminal: true,
    });
  }
  const reason = flyError ?? `HTTP ${status}`;
  return new ForgeError('E_PROVIDER', `Fly API ${operation} failed (${status}): ${reason}`, { details });
}

export function flyNetworkError(operation: string, cause: unknown, ambiguous: boolean, attempts: number): ForgeError {
  const code = (cause as { code?: unknown })?.code;
  const what = typeof code === 'string' ? code : cause instanceof Error ? cause.message : 'network error';
  return new ForgeError('E_PROVIDER', `Fly API ${operation} failed: ${what}`, {
    details: { status: 0, ambiguous, attempts } satisfies FlyErrorDetails,
    cause,
  });
}

export function flyErrorStatus(err: unknown): number | undefined {
  if (!(err instanceof ForgeError) || err.code !== 'E_PROVIDER') return undefined;
  const status = (err.details as FlyErrorDetails | undefined)?.status;
  return typeof status === 'number' ? status : undefined;
}

export function isFlyStatus(err: unknown, ...statuses: number[]): boolean {
  const status = flyErrorStatus(err);
  return status !== undefined && statuses.includes(status);
}

/** True when a failed non-idempotent call may still have happened on Fly's side. */
export function isAmbiguousFlyError(err: unknown): boolean {
  return err instanceof ForgeError && err.code === 'E_PROVIDER' && (err.details as FlyErrorDetails | undefined)?.ambiguous === true;
}
