// The agent's identity across restarts: the id the control plane gave it, kept
// in its data dir (0600) so a restarted agent re-registers as itself. The per-agent
// token is not kept: every start registers again and gets a fresh one.

import { promises as fs } from 'node:fs';
import path from 'node:path';

export const IDENTITY_FILE = 'agent.json';

export async function loadAgentId(dataDir: string): Promise<string | undefined> {
  try {
    const parsed = JSON.parse(await fs.readFile(path.join(dataDir, IDENTITY_FILE), 'utf8')) as { id?: unknown };
    return typeof parsed.id === 'string' && /^agt_[A-Za-z0-9_-]{1,64}$/.test(parsed.id) ? parsed.id : undefined;
  } catch {
    return undefined;
  }
}

export async function saveAgentId(dataDir: string, id: string): Promise<void> {
  await fs.mkdir(dataDir, { recursive: true, mode: 0o700 });
  const file = path.join(dataDir, IDENTITY_FILE);
  await fs.writeFile(`${file}.tmp`, `${JSON.stringify({ id })}\n`, { mode: 0o600 });
  await fs.rename(`${file}.tmp`, file);
}
