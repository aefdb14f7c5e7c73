// Which language runtimes this host has: at start the agent looks for each known
// binary on its PATH (the first one a shell would run), asks it for its version,
// and reports what it found when it registers. A binary that is missing, not
// executable, slow or unreadable is simply not a runtime this agent has.

import { execFile } from 'node:child_process';
import { constants, promises as fs } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { RUNTIME_FAMILIES, versionFrom, type AgentRuntime } from '../specs/runtimes.ts';

const run = promisify(execFile);
const VERSION_TIMEOUT_MS = 5_000;

/** The first executable file called `name` in the PATH's directories, or undefined. */
async function which(name: string, dirs: readonly string[]): Promise<string | undefined> {
  for (const dir of dirs) {
    const candidate = path.join(dir, name);
    try {
      const stat = await fs.stat(candidate);
      if (!stat.isFile()) continue;
      await fs.access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

async function versionOf(binary: string, args: readonly string[]): Promise<string | undefined> {
  try {
    // The host's own environment: a version manager's shim (pyenv, nvm) needs it to answer.
    const { stdout, stderr } = await run(binary, [...args], { timeout: VERSION_TIMEOUT_MS });
    return versionFrom(`${stdout}\n${stderr}`);
  } catch {
    return undefined;
  }
}

/** Every known runtime binary on `searchPath` with its version, in family then binary order. */
export async function detectRuntimes(searchPath: string | undefined): Promise<AgentRuntime[]> {
  const dirs = (searchPath ?? '').split(':').filter((d) => path.isAbsolute(d));
  const probes = RUNTIME_FAMILIES.flatMap((family) => family.binaries.map((binary) => ({ family, binary })));
  const found = await Promise.all(probes.map(async ({ family, binary }) => {
    const at = await which(binary, dirs);
    const version = at === undefined ? undefined : await versionOf(at, family.versionArgs);
    return at !== undefined && version !== undefined ? { name: family.name, version, path: at } : undefined;
  }));
  return found.filter((r): r is AgentRuntime => r !== undefined);
}
