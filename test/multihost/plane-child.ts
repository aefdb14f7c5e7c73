// The control-plane "host" of the multi-host e2e: forge's control plane in its own
// network namespace and data dir, no local agent, routing through the proxy
// host's caddy (external, at its admin address). Prints one JSON line
// `{ url, apiKey }` once it listens; runs until killed.

import { randomBytes } from 'node:crypto';
import { generateApiKey } from '../../api/auth.ts';
import { resolveConfig } from '../../api/config.ts';
import { startControlPlane } from '../../api/control-plane.ts';
import { startRouting } from '../../router/start.ts';

const [dir, addr, caddyAdmin, httpAddr, agentToken] = process.argv.slice(2);
if (!dir || !addr || !caddyAdmin || !httpAddr || !agentToken) throw new Error('usage: plane-child.ts DATA_DIR ADDR CADDY_ADMIN HTTP_ADDR AGENT_TOKEN');
const env = {
  FORGE_DATA_DIR: dir, FORGE_API_ADDR: addr, FORGE_AGENT_TOKEN: agentToken, FORGE_CADDY_ADMIN: caddyAdmin, FORGE_HTTP_ADDR: httpAddr,
  FORGE_DOMAIN: 'localhost', FORGE_ENCRYPTION_KEY: Buffer.alloc(32, 9).toString('base64'), FORGE_JWT_SECRET: Buffer.alloc(32, 8).toString('base64'),
};
const { config } = resolveConfig(env, {}, randomBytes, dir);
const routing = await startRouting({ env, dataDir: dir, domain: config.domain, production: false, mode: 'external' });
const plane = await startControlPlane(config, {
  env, noLocalAgent: true, logger: false, resyncIntervalMs: 300, heartbeatIntervalMs: 300,
  ...(routing.router ? { routes: routing.router } : {}),
});
const { key, hash, prefix } = generateApiKey();
plane.store.apiKeys.create({ name: 'laptop', hash, prefix });
process.stdout.write(`${JSON.stringify({ url: plane.url, apiKey: key, router: routing.notice })}\n`);
