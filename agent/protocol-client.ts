// The agent's side of the protocol: thin HTTP calls to the control plane with
// bounded timeouts. A 409 on progress/result means the lease is gone (the task is
// someone else's now, or cancelled) and is answered as 'lost', not thrown. A 503
// (E_FENCED: a deposed leader's write was refused; or a replica that cannot serve) is
// not a lost lease: the next replica is tried, and if none takes it the call throws.
//
// Several replicas: `server` may be a comma-separated list of base URLs (every replica
// serves the agent protocol on one database, so the same credentials work on each). A
// call that finds its replica unreachable, silent or answering 5xx is tried on the next
// one, and the client stays there (net/failover.ts decides). Every call but a first
// registration may be repeated on another replica after one may have seen it: a
// heartbeat is a report of state; a claim whose reply was lost leaves a lease that runs
// out and the task is handed out again (as with one server today); progress renews a
// lease; a second result of a task is answered 409 ('lost'); a log batch may arrive
// twice (a repeated line is better than a gap); a bundle download is a read. A first
// registration (no id yet) is not: a lost reply would leave an agent record nobody uses,
// so it moves on only when no replica saw it.

import { ForgeError, type ErrorCode } from '../errors/index.ts';
import { failoverStep, neverSent, splitServerList, type AttemptOutcome } from '../net/failover.ts';
import type {
  ClaimResponse, HeartbeatRequest, HeartbeatResponse, RegisterRequest, RegisterResponse, ResultRequest, ShippedLine,
} from '../schemas/agent-protocol.ts';

export interface ProtocolClient {
  /** The base URL calls go to now (the one that worked last). */
  readonly server: string;
  /** Every base URL it was given, in order. */
  readonly servers: readonly string[];
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

export interface ProtocolClientOptions {
  /** Every leader term an answer carries (heartbeat, claim): fencing, see term-guard.ts. */
  onTerm?(term: number): void;
}

export function createProtocolClient(server: string, options: ProtocolClientOptions = {}): ProtocolClient {
  const bases = splitServerList(server);
  if (bases.length === 0) throw new ForgeError('E_USAGE', 'no control plane URL given');
  let current = 0;
  let agentId = '';
  let agentToken = '';

  /**
   * One request, tried on the current replica and then on the others (each at most once)
   * while they are unreachable or answer 5xx. The last 5xx reply is returned as it is;
   * when none answered, the last network error is thrown.
   */
  async function attempt(path: string, init: RequestInit, timeoutMs: number, idempotent: boolean, signal?: AbortSignal): Promise<Response> {
    let lastError: ForgeError | undefined;
    for (let attempts = 1; ; attempts++) {
      const tried = current;
      const base = bases[tried]!;
      const timeout = AbortSignal.timeout(timeoutMs);
      let outcome: AttemptOutcome;
      let res: Response | undefined;
      try {
        res = await fetch(`${base}${path}`, { ...init, signal: signal ? AbortSignal.any([signal, timeout]) : timeout });
        outcome = res.status >= 500 ? 'server-error' : 'answered';
      } catch (cause) {
        if (signal?.aborted) throw new ForgeError('E_TIMEOUT', `${path}: cancelled`, { cause });
        lastError = new ForgeError('E_PROVIDER', `control plane unreachable at ${base}: ${(cause as Error).message}`, { cause });
        outcome = neverSent(cause) ? 'not-sent' : 'no-reply';
      }
      const step = failoverStep(bases.length, tried, outcome, attempts, idempotent);
      if (current === tried) current = step.next; // a concurrent call may have moved on already
      if (!step.retry) {
        if (res) return res;
        throw lastError!;
      }
      await res?.body?.cancel();
    }
  }

  function call(path: string, token: string, body: unknown, timeoutMs: number, signal?: AbortSignal, idempotent = true): Promise<Response> {
    return attempt(path, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body ?? {}),
    }, timeoutMs, idempotent, signal);
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
    get server() {
      return bases[current]!;
    },
    servers: bases,
    setCredentials(id, token) {
      agentId = id;
      agentToken = token;
    },
    async register(request, registrationToken) {
      const path = '/api/agents/register';
      return json<RegisterResponse>(path, await call(path, registrationToken, request, CALL_TIMEOUT_MS, undefined, request.id !== undefined));
    },
    async heartbeat(report) {
      const path = agentPath('/heartbeat');
      const answer = await json<HeartbeatResponse>(path, await call(path, agentToken, report, CALL_TIMEOUT_MS));
      if (typeof answer.term === 'number') options.onTerm?.(answer.term);
      return answer;
    },
    async claim(waitMs, signal) {
      const path = agentPath('/tasks/claim');
      const res = await call(path, agentToken, { waitMs }, waitMs + CALL_TIMEOUT_MS, signal);
      if (res.status === 204) return null;
      const answer = await json<ClaimResponse>(path, res);
      if (typeof answer.term === 'number') options.onTerm?.(answer.term);
      return answer;
    },
    progress: (taskId, lines) => leaseCall(agentPath(`/tasks/${encodeURIComponent(taskId)}/progress`), { lines }),
    result: (taskId, body) => leaseCall(agentPath(`/tasks/${encodeURIComponent(taskId)}/result`), body),
    async bundle(digest, signal) {
      const path = agentPath(`/bundles/${encodeURIComponent(digest)}`);
      const res = await attempt(path, { headers: { authorization: `Bearer ${agentToken}` } }, BUNDLE_TIMEOUT_MS, true, signal);
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
