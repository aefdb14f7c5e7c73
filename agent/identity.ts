// The agent's identity across restarts: the id the control plane gave it and its own
// credential, kept in its data dir (0600). The registration (bootstrap) token only
// creates an agent; a restarted agent registers again as itself with its credential,
// so nobody else holding the bootstrap token can take its id or its tasks.

import { promises as fs } from 'node:fs';
import path from 'node:path';
import { isForgeError } from '../errors/index.ts';
import type { RegisterRequest, RegisterResponse } from '../schemas/agent-protocol.ts';
import type { ProtocolClient } from './protocol-client.ts';

export const IDENTITY_FILE = 'agent.json';

export interface AgentIdentity {
  id: string;
  /** The per-agent credential; absent in files written before agents had one. */
  token?: string;
}

export async function loadAgentIdentity(dataDir: string): Promise<AgentIdentity | undefined> {
  try {
    const parsed = JSON.parse(await fs.readFile(path.join(dataDir, IDENTITY_FILE), 'utf8')) as { id?: unknown; token?: unknown };
    if (typeof parsed.id !== 'string' || !/^agt_[A-Za-z0-9_-]{1,64}$/.test(parsed.id)) return undefined;
    return typeof parsed.token === 'string' && parsed.token !== '' ? { id: parsed.id, token: parsed.token } : { id: parsed.id };
  } catch {
    return undefined;
  }
}

export async function saveAgentIdentity(dataDir: string, identity: Required<AgentIdentity>): Promise<void> {
  await fs.mkdir(dataDir, { recursive: true, mode: 0o700 });
  const file = path.join(dataDir, IDENTITY_FILE);
  await fs.writeFile(`${file}.tmp`, `${JSON.stringify({ id: identity.id, token: identity.token })}\n`, { mode: 0o600 });
  await fs.chmod(`${file}.tmp`, 0o600);
  await fs.rename(`${file}.tmp`, file);
}

/**
 * Registers as the agent this data dir knows (with its own credential), or, when there is
 * none or the control plane no longer knows that credential (its database was reset), as a
 * new agent with the bootstrap token. A revoked agent's 403 is thrown, never worked around.
 */
export async function registerAsSelf(
  client: ProtocolClient, dataDir: string, request: Omit<RegisterRequest, 'id'>, bootstrapToken: string,
): Promise<RegisterResponse> {
  const known = await loadAgentIdentity(dataDir);
  let answer: RegisterResponse | undefined;
  if (known?.token !== undefined) {
    try {
      answer = await client.register({ ...request, id: known.id }, known.token);
    } catch (error) {
      if (!(isForgeError(error) && error.code === 'E_UNAUTHORIZED')) throw error;
    }
  }
  answer ??= await client.register(request, bootstrapToken);
  client.setCredentials(answer.id, answer.token);
  await saveAgentIdentity(dataDir, { id: answer.id, token: answer.token });
  return answer;
}
