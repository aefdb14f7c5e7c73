// Whether this agent can run images (skopeo pulls, umoci unpacks, crun runs) and
// build Dockerfiles (buildah), reported at registration beside the language
// runtimes so the scheduler never sends an image to an agent that cannot run it.

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { access } from 'node:fs/promises';
import { constants } from 'node:fs';
import path from 'node:path';
import { DOCKERFILE_RUNTIME, IMAGE_RUNTIME, versionFrom, type AgentRuntime } from '../../specs/runtimes.ts';

const run = promisify(execFile);

/** The binary's version when it is an executable file in one of `dirs` (the agent's PATH, like the language runtimes). */
async function version(binary: string, dirs: readonly string[]): Promise<{ version: string; path: string } | undefined> {
  for (const dir of dirs) {
    const at = path.join(dir, binary);
    try {
      await access(at, constants.X_OK);
      const { stdout, stderr } = await run(at, ['--version'], { timeout: 5_000 });
      const v = versionFrom(`${stdout}\n${stderr}`);
      return v === undefined ? undefined : { version: v, path: at };
    } catch {
      // not here
    }
  }
  return undefined;
}

export async function detectImageRuntimes(searchPath: string | undefined): Promise<AgentRuntime[]> {
  const dirs = (searchPath ?? '').split(':').filter((d) => path.isAbsolute(d));
  const [skopeo, umoci, crun, buildah] = await Promise.all(['skopeo', 'umoci', 'crun', 'buildah'].map((b) => version(b, dirs)));
  if (skopeo === undefined || umoci === undefined || crun === undefined) return [];
  const out: AgentRuntime[] = [{ name: IMAGE_RUNTIME, version: skopeo.version, path: skopeo.path }];
  if (buildah !== undefined) out.push({ name: DOCKERFILE_RUNTIME, version: buildah.version, path: buildah.path });
  return out;
}
