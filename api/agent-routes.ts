// The agent protocol as a fastify plugin under /api/agents: register (with a
// registration token), heartbeat, claim (long-poll), progress and result (with the
// agent's own token). Agent tokens are checked here and nowhere else: the plugin's
// auth hook is encapsulated, and no other route accepts them.

import type { FastifyInstance, FastifyPluginAsync, FastifyRequest } from 'fastify';
import { ForgeError, toForgeError } from '../errors/index.ts';
import type { Store } from '../store/index.ts';
import type { TaskRow } from '../store/rows.ts';
import type { AgentHub } from '../providers/agent/hub.ts';
import {
  DEFAULT_HEARTBEAT_INTERVAL_MS, DEFAULT_LEASE_MS, MAX_CLAIM_WAIT_MS, type ClaimResponse, type RegisterResponse,
} from '../schemas/agent-protocol.ts';
import { AGENT_TOKEN_PREFIX, bearerToken, hashToken, newAgentToken, tokensEqual } from '../providers/agent/tokens.ts';
import { parseBody } from '../providers/agent/validate.ts';
import { createTaskBell } from '../providers/agent/bell.ts';
import { createAuthLimits, retryAfterOf, type AuthLimits } from './auth-limits.ts';
import { createBundleStore } from './bundle-store.ts';
import { agentBundleRoutes } from './routes/bundles.ts';
import { registerAgentLogRoute } from './routes/agent-logs.ts';

export interface AgentRoutesOptions {
  store: Store;
  /** The agent provider's hub (cache updates, nudges, claim wake-ups); a standalone poller when omitted. */
  hub?: AgentHub;
  now?: () => number;
  /** Bootstrap tokens that may register agents (FORGE_AGENT_TOKEN, tokens created on the control plane). */
  registrationTokens: readonly string[] | (() => readonly string[]);
  /** Decrypted secret values of a service, sent only in a run task's claim response. */
  secretsFor(service: string): Record<string, string>;
  /** Credentials of the registry an image names (host → credential), sent only with a run task of that image. */
  registryFor?(image: string | undefined): Record<string, { username: string; password: string }>;
  leaseMs?: number;
  heartbeatIntervalMs?: number;
  /** Upper bound of a claim's long-poll (default and maximum 25 s). */
  maxClaimWaitMs?: number;
  /** How often a waiting claim looks at the store even without a wake-up (tasks queued by another process). */
  claimPollMs?: number;
  /** Failed-authentication and registration limits per source address; its own when omitted. */
  limits?: AuthLimits;
  /** Where the control plane keeps source bundles: agents fetch them by digest (GET /:id/bundles/:digest). */
  bundlesDir?: string;
}

export const AGENT_ROUTES_PREFIX = '/api/agents';

// Which agent a request authenticated as (no global type augmentation of fastify's request).
const authenticated = new WeakMap<FastifyRequest, string>();

export function agentRoutes(options: AgentRoutesOptions): FastifyPluginAsync {
  const now = options.now ?? Date.now;
  const leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
  const heartbeatIntervalMs = options.heartbeatIntervalMs ?? DEFAULT_HEARTBEAT_INTERVAL_MS;
  const maxWait = Math.min(options.maxClaimWaitMs ?? MAX_CLAIM_WAIT_MS, MAX_CLAIM_WAIT_MS);
  const pollMs = options.claimPollMs ?? 1_000;
  const bell = createTaskBell();
  const hub: AgentHub = options.hub ?? {
    heartbeatReceived() {}, agentRegistered() {}, taskClaimed() {}, taskCompleted() {},
    waitForTask: (agentId, ms, signal) => bell.wait(agentId, ms, signal),
  };
  const { store } = options;
  const limits = options.limits ?? createAuthLimits({ now });

  const registrationTokens = (): readonly string[] =>
    typeof options.registrationTokens === 'function' ? options.registrationTokens() : options.registrationTokens;

  async function routes(app: FastifyInstance): Promise<void> {
    app.setErrorHandler((error: unknown, _request, reply) => {
      const fastifyCode = (error as { code?: string; statusCode?: number }).statusCode;
      const forge = error instanceof ForgeError ? error
        : fastifyCode !== undefined && fastifyCode < 500 ? new ForgeError('E_BAD_REQUEST', (error as Error).message)
        : toForgeError(error);
      const status = forge.httpStatus;
      const retryAfter = retryAfterOf(forge);
      if (retryAfter !== undefined) void reply.header('retry-after', String(retryAfter));
      void reply.code(status).send({ error: forge.code, message: status === 500 ? 'internal error' : forge.message, details: status === 500 ? undefined : forge.details });
    });

    app.addHook('onRequest', async (request) => {
      limits.assertNotBlocked(request.ip, 'agent');
      try {
        authenticate(request);
      } catch (error) {
        if (error instanceof ForgeError && error.code === 'E_UNAUTHORIZED') limits.failed(request.ip, 'agent');
        throw error;
      }
      if (request.routeOptions.url === `${AGENT_ROUTES_PREFIX}/register`) limits.registration(request.ip);
    });

    function authenticate(request: FastifyRequest): void {
      const token = bearerToken(request.headers.authorization);
      if (token === null) throw new ForgeError('E_UNAUTHORIZED', 'missing bearer token');
      // Registration reads the body to learn which id is asked for (see registrant), but nothing
      // without a registration token or an agent's own credential gets as far as the body.
      if (request.routeOptions.url === `${AGENT_ROUTES_PREFIX}/register`) {
        const known = registrationTokens().some((t) => t !== '' && tokensEqual(t, token))
          || (token.startsWith(AGENT_TOKEN_PREFIX) && store.agents.getByTokenHash(hashToken(token)) !== null);
        if (!known) throw new ForgeError('E_UNAUTHORIZED', 'not a valid agent registration token');
        return;
      }
      const agent = store.agents.getByTokenHash(hashToken(token));
      if (agent === null) throw new ForgeError('E_UNAUTHORIZED', 'not a valid agent token');
      const id = (request.params as { id?: string }).id;
      if (id !== agent.id) throw new ForgeError('E_FORBIDDEN', 'this token belongs to another agent');
      if (agent.revokedAt !== null) throw new ForgeError('E_FORBIDDEN', `agent ${agent.id} was revoked`);
      authenticated.set(request, agent.id);
    }

    /**
     * Who may register: a registration (bootstrap) token creates a new agent with a fresh id and
     * hands out its own credential; an existing id registers again only with that credential,
     * which it keeps. So a leaked bootstrap token can add agents, never become one.
     */
    function registrant(token: string, requestedId: string | undefined): { id?: string; token: string } {
      const own = token.startsWith(AGENT_TOKEN_PREFIX) ? store.agents.getByTokenHash(hashToken(token)) : null;
      if (own !== null) {
        if (requestedId !== own.id) throw new ForgeError('E_FORBIDDEN', 'an agent credential registers only its own agent again: send its id');
        if (own.revokedAt !== null) throw new ForgeError('E_FORBIDDEN', `agent ${own.id} was revoked`);
        return { id: own.id, token };
      }
      if (!registrationTokens().some((t) => t !== '' && tokensEqual(t, token))) {
        throw new ForgeError('E_UNAUTHORIZED', 'not a valid agent registration token');
      }
      const existing = requestedId === undefined ? null : store.agents.get(requestedId);
      if (existing?.revokedAt) throw new ForgeError('E_FORBIDDEN', `agent ${existing.id} was revoked`);
      if (existing) {
        throw new ForgeError('E_FORBIDDEN',
          `agent ${existing.id} is already registered: registering it again needs its own credential, not a registration token`);
      }
      // An id the control plane does not know (its database was reset) is not honoured: tasks
      // addressed to an old id must not go to whoever asks for it.
      return { token: newAgentToken() };
    }

    if (options.bundlesDir) await app.register(agentBundleRoutes(createBundleStore(options.bundlesDir, Number.MAX_SAFE_INTEGER)));

    app.post('/register', async (request, reply) => {
      const body = parseBody('agent-register', request.body);
      const who = registrant(bearerToken(request.headers.authorization) ?? '', body.id);
      // An agent registers when it starts (or when we had forgotten it): whatever it had
      // claimed before is not running any more, so nobody waits out those leases.
      const row = store.transaction(() => {
        const registered = store.agents.register({
          ...(who.id === undefined ? {} : { id: who.id }),
          name: body.name,
          tokenHash: hashToken(who.token),
          addresses: body.addresses ?? [],
          labels: body.labels ?? {},
          capacity: body.capacity,
          instances: body.instances ?? [],
          runtimes: body.runtimes ?? [],
        }, now());
        store.tasks.cancelClaimedBy(registered.id);
        return registered;
      });
      hub.agentRegistered(row.id, body.instances ?? []);
      const response: RegisterResponse = { id: row.id, token: who.token, heartbeatIntervalMs, leaseMs };
      return reply.code(201).send(response);
    });

    app.post('/:id/heartbeat', { bodyLimit: 16 * 1024 * 1024 }, async (request) => {
      const agentId = agentOf(request);
      const body = parseBody('agent-heartbeat', request.body);
      const usage = {
        ...body.usage, processes: body.processes, capacity: body.capacity, agentTime: body.time,
        ...(body.imageBytes === undefined ? {} : { imageBytes: body.imageBytes }),
      };
      if (!store.agents.heartbeat(agentId, { usage, instances: body.instances }, now())) {
        throw new ForgeError('E_NOT_FOUND', `agent ${agentId} is not registered`);
      }
      hub.heartbeatReceived(agentId, body);
      return { ok: true, heartbeatIntervalMs, term: store.tasks.currentTerm() };
    });

    app.post('/:id/tasks/claim', async (request, reply) => {
      const agentId = agentOf(request);
      const body = parseBody('agent-claim', request.body);
      const waitMs = Math.min(body.waitMs ?? maxWait, maxWait);
      const gone = new AbortController();
      reply.raw.once('close', () => gone.abort());
      const deadline = Date.now() + waitMs;
      for (;;) {
        const claimed = claimOne(agentId);
        if (claimed) return reply.code(200).send(claimed);
        const remaining = deadline - Date.now();
        if (remaining <= 0 || gone.signal.aborted) return reply.code(204).send();
        await hub.waitForTask(agentId, Math.min(remaining, pollMs), gone.signal);
      }
    });

    app.post('/:id/tasks/:taskId/progress', async (request) => {
      const agentId = agentOf(request);
      const { taskId } = request.params as { taskId: string };
      const body = parseBody('agent-progress', request.body);
      const task = heldTask(taskId, agentId);
      const t = now();
      const held = task.state === 'claimed' ? store.tasks.start(taskId, agentId, t, leaseMs) : store.tasks.renew(taskId, agentId, t, leaseMs);
      if (!held) throw lostLease(taskId);
      for (const line of body.lines) store.tasks.appendLog(taskId, line);
      return { ok: true, leaseExpiresAt: t + leaseMs };
    });

    registerAgentLogRoute(app, { store, agentOf });

    app.post('/:id/tasks/:taskId/result', async (request) => {
      const agentId = agentOf(request);
      const { taskId } = request.params as { taskId: string };
      const body = parseBody('agent-result', request.body);
      heldTask(taskId, agentId);
      const instance = body.result?.instance;
      const completed = store.transaction(() => {
        if (!store.tasks.complete(taskId, agentId, body.result ?? null, body.ok)) return false;
        // Stored with the agent, so a leader on another replica sees it before the next heartbeat.
        if (instance) store.agents.noteInstance(agentId, instance, now());
        return true;
      });
      if (!completed) throw lostLease(taskId);
      const done = store.tasks.get(taskId);
      if (done) hub.taskCompleted(done, body.ok, body.result);
      return { ok: true };
    });
  }

  function claimOne(agentId: string): ClaimResponse | null {
    for (;;) {
      const task = store.tasks.claim(agentId, now(), leaseMs);
      if (task === null) return null;
      hub.taskClaimed(task);
      if (task.kind === 'build' && task.attempts > 1) {
        // A one-off whose earlier holder lost it may have run (or be running still): never hand it
        // out again. The control plane reports it instead (exactly once, see docs/spec.md).
        const result = { code: 'E_MAY_HAVE_RUN', message: 'its agent stopped reporting mid-run (lease lost): it may have run; not started again' };
        store.tasks.complete(task.id, agentId, result, false);
        hub.taskCompleted(store.tasks.get(task.id) ?? task, false, result);
        continue;
      }
      let secrets: Record<string, string> = {};
      let registry: Record<string, { username: string; password: string }> = {};
      try {
        if (task.kind === 'run' || task.kind === 'build' || task.kind === 'job') secrets = options.secretsFor(task.service);
        if (task.kind === 'run' && options.registryFor) registry = options.registryFor(imageOf(task.payload));
      } catch (thrown) {
        // The agent could not run it without its secrets: fail the task (no value is in the message) and look again.
        const error = toForgeError(thrown, 'E_SECRET_DECRYPT');
        const result = { code: error.code, message: `secrets of ${task.service} unavailable: ${error.message}` };
        store.tasks.complete(task.id, agentId, result, false);
        hub.taskCompleted(store.tasks.get(task.id) ?? task, false, result);
        continue;
      }
      return { task: claimedTask(task), term: Math.max(task.term, store.tasks.currentTerm()), secrets, ...(Object.keys(registry).length > 0 ? { registry } : {}) };
    }
  }

  function claimedTask(task: TaskRow): ClaimResponse['task'] {
    return {
      id: task.id, kind: task.kind, service: task.service, generation: task.generation, replica: task.replica,
      attempts: task.attempts, term: task.term, leaseMs, leaseExpiresAt: task.leaseExpiresAt ?? now() + leaseMs, payload: task.payload,
    };
  }

  function heldTask(taskId: string, agentId: string): TaskRow {
    const task = store.tasks.get(taskId);
    if (task === null) throw new ForgeError('E_NOT_FOUND', `task ${taskId} does not exist`);
    if (task.leaseOwner !== agentId || (task.state !== 'claimed' && task.state !== 'running')) throw lostLease(taskId);
    return task;
  }

  return async (app) => {
    await app.register(routes, { prefix: AGENT_ROUTES_PREFIX });
  };
}

function agentOf(request: FastifyRequest): string {
  const id = authenticated.get(request);
  if (id === undefined) throw new ForgeError('E_UNAUTHORIZED', 'not authenticated');
  return id;
}

function lostLease(taskId: string): ForgeError {
  return new ForgeError('E_CONFLICT', `task ${taskId} is no longer held by this agent (lease expired, cancelled or done)`);
}

/** The image a run task's payload names, if any. */
function imageOf(payload: unknown): string | undefined {
  const spec = (payload as { spec?: { image?: unknown } } | null)?.spec;
  return typeof spec?.image === 'string' ? spec.image : undefined;
}
