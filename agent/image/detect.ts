// Whether this agent can run images (skopeo pulls, umoci unpacks, crun runs) and
// build Dockerfiles (buildah), reported at registration beside the language
// runtimes so the scheduler never sends an image to an agent that cannot run it.

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { DOCKERFILE_RUNTIME, IMAGE_RUNTIME, versionFrom, type AgentRuntime } from '../../specs/runtimes.ts';

const run = promisify(execFile);

async function version(binary: string): Promise<{ version: string; path: string } | undefined> {
  try {
    const { stdout, stderr } = await run(binary, ['--version'], { timeout: 5_000 });
    const v = versionFrom(`${stdout}\n${stderr}`);
    const where = await run('sh', ['-c', 'command -v "$1"', 'sh', binary], { timeout: 5_000 });
    return v === undefined ? undefined : { version: v, path: where.stdout.trim() };
  } catch {
    return undefined;
  }
}

export async function detectImageRuntimes(): Promise<AgentRuntime[]> {
  const [skopeo, umoci, crun, buildah] = await Promise.all(['skopeo', 'umoci', 'crun', 'buildah'].map(version));
  if (skopeo === undefined || umoci === undefined || crun === undefined) return [];
  const out: AgentRuntime[] = [{ name: IMAGE_RUNTIME, version: skopeo.version, path: skopeo.path }];
  if (buildah !== undefined) out.push({ name: DOCKERFILE_RUNTIME, version: buildah.version, path: buildah.path });
  return out;
}
