// POST /api/v1/webhook/github: the signature is checked over the raw bytes before
// anything is parsed; a verified push is recorded (deduplicated by delivery id),
// acknowledged with 202 at once, and deployed in the background.

import type { FastifyInstance } from 'fastify';
import { ForgeError } from '../../errors/index.ts';
import type { ApiContext } from '../context.ts';
import type { AuthLimits } from '../auth-limits.ts';
import type { GitDeployer } from '../git-deploy.ts';
import { decidePush, validDeliveryId, verifyGithubSignature, type PushPolicy } from '../webhook-decide.ts';

export interface WebhookOptions extends PushPolicy {
  secret?: string;
  deploy: GitDeployer;
  /** Called with a deployment's background promise (tests await it; the server ignores it). */
  onBackground?: (work: Promise<void>) => void;
  /** Bad signatures count as failed authentications of their source address. */
  limits?: AuthLimits;
}

export async function webhookPlugin(app: FastifyInstance, opts: { ctx: ApiContext; webhook: WebhookOptions }): Promise<void> {
  const { ctx, webhook } = opts;
  // Encapsulated: only this route's JSON arrives as the raw Buffer the signature covers.
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  app.post('/api/v1/webhook/github', async (request, reply) => {
    if (!webhook.secret) {
      throw new ForgeError('E_FORBIDDEN', 'the GitHub webhook is not enabled on this control plane (set FORGE_WEBHOOK_SECRET)');
    }
    webhook.limits?.assertNotBlocked(request.ip, 'webhook');
    const raw = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
    const signature = request.headers['x-hub-signature-256'];
    if (!verifyGithubSignature(webhook.secret, raw, typeof signature === 'string' ? signature : undefined)) {
      webhook.limits?.failed(request.ip, 'webhook');
      throw new ForgeError('E_UNAUTHORIZED', 'webhook signature verification failed');
    }
    let payload: unknown;
    try {
      payload = JSON.parse(raw.toString('utf8'));
    } catch {
      throw new ForgeError('E_BAD_REQUEST', 'webhook body is not valid JSON');
    }
    const event = request.headers['x-github-event'];
    if (event === 'ping') return { ok: true, event: 'ping' };
    if (event !== 'push') return reply.status(200).send({ ignored: `event ${String(event)} is not handled` });

    const decision = decidePush(payload, webhook);
    if (decision.kind === 'invalid') throw new ForgeError('E_BAD_REQUEST', decision.reason);
    if (decision.kind === 'refuse') throw new ForgeError('E_FORBIDDEN', decision.reason);
    if (decision.kind === 'ignore') return reply.status(200).send({ ignored: decision.reason });

    const deliveryId = request.headers['x-github-delivery'];
    if (!validDeliveryId(deliveryId)) throw new ForgeError('E_BAD_REQUEST', 'missing or malformed X-GitHub-Delivery header');
    const { target } = decision;
    const deployment = ctx.store.deployments.create({ deliveryId, repo: target.repo, branch: target.branch, sha: target.sha, message: target.message });
    if (!deployment) {
      const earlier = ctx.store.deployments.getByDelivery(deliveryId);
      return reply.status(202).send({ status: 'already received', deployment: earlier?.id ?? null });
    }
    ctx.store.audit.append({
      actor: `webhook:${deliveryId}`, action: 'deployment.create', target: `git:${target.repo}@${target.branch}`,
      details: { deployment: deployment.id, sha: target.sha },
    });
    const work = webhook.deploy(deployment, target).catch((error: unknown) => {
      request.log.error({ deployment: deployment.id, name: (error as Error)?.name }, 'git deployment crashed');
    });
    webhook.onBackground?.(work);
    return reply.status(202).send({ status: 'accepted', deployment: deployment.id });
  });
}
