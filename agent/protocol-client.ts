// The agent's side of the protocol: thin HTTP calls to the control plane with
// bounded timeouts. A 409 on progress/result means the lease is gone (the task is
// someone else's now, or cancelled) and is answered as 'lost', not thrown.

import { ForgeError, type ErrorCode } from '../errors/index.ts';
import type {
  ClaimResponse, HeartbeatRequest, HeartbeatResponse, RegisterRequest, RegisterResponse, ResultRequest, ShippedLine,
} from '../schemas/agent-protocol.ts';

export interface ProtocolClient {
  readonly server: string;
  setCredentials(id: string, token: string): void;
  register(request: RegisterRequest, registrationToken: string): Promise<RegisterResponse>;
  heartbeat(report: HeartbeatRequest): Promise<HeartbeatResponse>;
  /** A task with its lease, or null when none arrived within waitMs. */
  claim(waitMs: number, signal?: AbortSignal): Promise<ClaimResponse | null>;
  progress(taskId: string, lines: string[]): Promise<'ok' | 'lost'>;
  result(taskId: string, body: ResultRequest): Promise<'ok' | 'lost'>;
  /** A source bundle's gzip stream (bundle-fetch.ts verifies it); E_NOT_FOUND when the control plane has none. */
  bundle(digest: string, signal?: AbortSignal): Promise<ReadableStream<Uint8Array>>;
  /** Ships output lines; 'refused' when the control plane will never take this batch (4xx but 401). */
  logs(lines: ShippedLine[]): Promise<'ok' | 'refused'>;
}

const CALL_TIMEOUT_MS = 15_000;
/** A bundle download may be large: minutes, not seconds. */
const BUNDLE_TIMEOUT_MS = 10 * 60_000;

export function createProtocolClient(server: string): ProtocolClient {
  const base = server.replace(/\/+$/, '');
  let agentId = '';
  let agentToken = '';

  async function call(path: string, token: string, body: unknown, timeoutMs: number, signal?: AbortSignal): Promise<Response> {
    const timeout = AbortSignal.timeout(timeoutMs);
    const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
    try {
      return await fetch(`${base}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body ?? {}),
        signal: combined,
      });
    } catch (cause) {
      if (signal?.aborted) throw new ForgeError('E_TIMEOUT', `${path}: cancelled`, { cause });
      throw new ForgeError('E_PROVIDER', `control plane unreachable at ${base}: ${(cause as Error).message}`, { cause });
    }
  }

  async function failure(path: string, res: Response): Promise<ForgeError> {
    const text = await res.text().catch(() => '');
    let body: { error?: string; message?: string } = {};
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      // not JSON: keep the status only
    }
    const code = (body.error?.startsWith('E_') ? body.error : 'E_PROVIDER') as ErrorCode;
    return new ForgeError(code, `${path}: ${res.status} ${body.message ?? res.statusText}`, { details: { status: res.status } });
  }

  async function json<T>(path: string, res: Response): Promise<T> {
    if (!res.ok) throw await failure(path, res);
    return (await res.json()) as T;
  }

  const agentPath = (rest: string) => `/api/agents/${encodeURIComponent(agentId)}${rest}`;

  async function leaseCall(path: string, body: unknown): Promise<'ok' | 'lost'> {
    const res = await call(path, agentToken, body, CALL_TIMEOUT_MS);
    if (res.status === 409 || res.status === 404) {
      await res.body?.cancel();
      return 'lost';
    }
    await json(path, res);
    return 'ok';
  }

  return {
    server: base,
    setCredentials(id, token) {
      agentId = id;
      agentToken = token;
    },
    async register(request, registrationToken) {
      const path = '/api/agents/register';
      return json<RegisterResponse>(path, await call(path, registrationToken, request, CALL_TIMEOUT_MS));
    },
    async heartbeat(report) {
      const path = agentPath('/heartbeat');
      return json<HeartbeatResponse>(path, await call(path, agentToken, report, CALL_TIMEOUT_MS));
    },
    async claim(waitMs, signal) {
      const path = agentPath('/tasks/claim');
      const res = await call(path, agentToken, { waitMs }, waitMs + CALL_TIMEOUT_MS, signal);
      if (res.status === 204) return null;
      return json<ClaimResponse>(path, res);
    },
    progress: (taskId, lines) => leaseCall(agentPath(`/tasks/${encodeURIComponent(taskId)}/progress`), { lines }),
    result: (taskId, body) => leaseCall(agentPath(`/tasks/${encodeURIComponent(taskId)}/result`), body),
    async bundle(digest, signal) {
      const path = agentPath(`/bundles/${encodeURIComponent(digest)}`);
      const timeout = AbortSignal.timeout(BUNDLE_TIMEOUT_MS);
      let res: Response;
      try {
        res = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${agentToken}` }, signal: signal ? AbortSignal.any([signal, timeout]) : timeout });
      } catch (cause) {
        throw new ForgeError('E_PROVIDER', `control plane unreachable at ${base}: ${(cause as Error).message}`, { cause });
      }
      if (!res.ok || res.body === null) throw await failure(path, res);
      return res.body;
    },
    async logs(lines) {
      const path = agentPath('/logs');
      const res = await call(path, agentToken, { lines }, CALL_TIMEOUT_MS);
      if (res.status >= 400 && res.status < 500 && res.status !== 401 && res.status !== 429) {
        await res.body?.cancel();
        return 'refused';
      }
      await json(path, res);
      return 'ok';
    },
  };
}
