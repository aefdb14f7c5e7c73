// Every error leaves the API as { error, message, details } with a status chosen
// from its code. Bad input is never a 500, and no stack trace or cause text is sent.

import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { ERROR_TABLE, ForgeError, isForgeError, type ErrorCode } from '../errors/index.ts';
import { retryAfterOf } from './auth-limits.ts';
import { compatErrorCode } from './compat.ts';

export interface ErrorBody {
  error: string;
  message: string;
  details?: unknown;
}

export function statusForCode(code: ErrorCode): number {
  return ERROR_TABLE[code].http;
}

/** The body's `error` field: the code, except COMPUTE_NOT_CONFIGURED, which InsForge clients expect bare. */
export function publicCode(code: ErrorCode): string {
  return code === 'E_COMPUTE_NOT_CONFIGURED' ? 'COMPUTE_NOT_CONFIGURED' : code;
}

export function errorBody(error: ForgeError): ErrorBody {
  const body: ErrorBody = { error: publicCode(error.code), message: error.message };
  if (error.details !== undefined) body.details = error.details;
  return body;
}

interface AjvIssue {
  instancePath?: string;
  message?: string;
  keyword?: string;
  params?: Record<string, unknown>;
}

/** ajv issues → `{ path, message }`, naming the unknown key for additionalProperties. */
export function validationDetails(issues: readonly AjvIssue[]): { path: string; message: string }[] {
  return issues.map((issue) => {
    const base = (issue.instancePath ?? '').replace(/^\//, '').replace(/\//g, '.');
    const extra = issue.params?.additionalProperty;
    if (issue.keyword === 'additionalProperties' && typeof extra === 'string') {
      return { path: base === '' ? extra : `${base}.${extra}`, message: 'unknown key' };
    }
    return { path: base, message: issue.message ?? 'is invalid' };
  });
}

/** Fastify's own errors (validation, parsing, size, media type) → a ForgeError-shaped reply. */
function fromFastify(error: FastifyError): { status: number; body: ErrorBody } {
  if (error.validation) {
    const details = validationDetails(error.validation as AjvIssue[]);
    const first = details[0];
    const where = error.validationContext ?? 'body';
    const message = first ? `invalid request ${where}: ${first.path === '' ? '' : `${first.path}: `}${first.message}` : `invalid request ${where}`;
    return { status: 400, body: { error: 'E_BAD_REQUEST', message, details } };
  }
  const status = error.statusCode ?? 500;
  if (status === 413) return { status, body: { error: 'E_BAD_REQUEST', message: 'request body too large', details: { code: error.code } } };
  if (status === 415) return { status, body: { error: 'E_BAD_REQUEST', message: 'unsupported content type (send application/json)', details: { code: error.code } } };
  if (status >= 400 && status < 500) {
    return { status, body: { error: status === 404 ? 'E_NOT_FOUND' : 'E_BAD_REQUEST', message: error.message, details: { code: error.code } } };
  }
  return { status: 500, body: { error: 'E_INTERNAL', message: 'internal error' } };
}

export function errorHandler(error: FastifyError | ForgeError | Error, request: FastifyRequest, reply: FastifyReply): void {
  if (isForgeError(error)) {
    const status = statusForCode(error.code);
    // Messages are written not to hold values; the cause (possibly third-party text) stays out of logs.
    if (status >= 500) request.log.error({ code: error.code, msg: error.message }, 'request failed');
    const retryAfter = retryAfterOf(error);
    if (retryAfter !== undefined) void reply.header('retry-after', String(retryAfter));
    const body = errorBody(error);
    // InsForge's codes where its clients read them (compat.ts): /api/compute/… only.
    body.error = compatErrorCode(body.error, request.url);
    void reply.status(status).send(body);
    return;
  }
  const storage = storageFailure(error);
  if (storage) {
    request.log.error({ code: (error as { code?: string }).code }, 'store failed');
    void reply.status(storage.status).send(storage.body);
    return;
  }
  const { status, body } = fromFastify(error as FastifyError);
  if (status >= 500) request.log.error({ code: (error as FastifyError).code, name: error.name }, 'unexpected error');
  void reply.status(status).send(body);
}

/**
 * SQLite running out of room or locked out of its file: an operator problem with a
 * clear fix, not an internal error. Nothing was written (every write is one transaction).
 */
function storageFailure(error: Error): { status: number; body: ErrorBody } | null {
  const code = (error as { code?: unknown }).code;
  if (code === 'SQLITE_FULL') {
    return { status: 507, body: { error: 'E_STORE', message: 'the data dir (FORGE_DATA_DIR) is out of disk space; nothing was written: free space and send the request again' } };
  }
  if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') {
    return { status: 503, body: { error: 'E_STORE', message: 'the store is busy; send the request again' } };
  }
  if (code === 'SQLITE_READONLY' || code === 'SQLITE_IOERR' || code === 'SQLITE_CANTOPEN') {
    return { status: 503, body: { error: 'E_STORE', message: 'the data dir (FORGE_DATA_DIR) cannot be written; check its disk and permissions' } };
  }
  return null;
}

export function notFound(what: string): ForgeError {
  return new ForgeError('E_NOT_FOUND', what);
}
